package seed

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// writeStorage writes a Porta-like system-storage tree (paperclip layout
// :s3_prefix/:class/:attachment/:id_partition/:style/:filename): provider
// logos in several styles, CMS files with non-ASCII names, nested
// folders, a symlink and a few larger binary files. File times are set
// from the injected clock so trees compare equal across runs.
func writeStorage(ctx context.Context, root string, m *model, budget int64, rep *Report) (Timing, error) {
	start := time.Now()
	sc := &StorageCount{}
	r := m.rng("storage")
	mtime := m.now.Add(-24 * time.Hour)
	write := func(rel string, size int64, header string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := mkdirs(root, filepath.Dir(p), sc, mtime); err != nil {
			return err
		}
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		bw := bufio.NewWriterSize(f, 1<<20)
		bw.WriteString(header)
		fill(bw, r, size-int64(len(header)))
		if err := bw.Flush(); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", p, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
		sc.Files++
		sc.Bytes += max(size, int64(len(header)))
		return os.Chtimes(p, mtime, mtime)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return Timing{}, fmt.Errorf("storage directory: %w", err)
	}
	accounts := append([]*account{m.master}, m.providerAccounts()...)
	png := "\x89PNG\r\n\x1a\n"
	var cmsID int64
	for _, a := range accounts {
		part := idPartition(a.ID)
		for _, style := range []string{"original", "large", "medium", "thumb"} {
			if err := write(fmt.Sprintf("%s/profiles/logos/%s/%s/logo.png", a.S3Prefix, part, style), 2048+int64(r.IntN(30000)), png); err != nil {
				return Timing{}, err
			}
		}
		files := []string{"guía del desarrollador.pdf", "API概要.pdf", "terms-of-service.html", "Справочник API.md", "swagger.json", "brand/colours.css", "img/hero banner.jpg"}
		for _, name := range files {
			cmsID++
			if err := write(fmt.Sprintf("%s/cms/files/%s/original/%s", a.S3Prefix, idPartition(cmsID), name), 512+int64(r.IntN(60000)), "%PDF-1.7\n"); err != nil {
				return Timing{}, err
			}
		}
		if err := write(fmt.Sprintf("%s/attachments/invoices/%s/original/invoice-%d.pdf", a.S3Prefix, part, a.ID), 4096, "%PDF-1.4\n"); err != nil {
			return Timing{}, err
		}
	}
	// a symlink, as admins leave behind when they move files by hand
	link := filepath.Join(root, m.provs[0].acct.S3Prefix, "current-logo.png")
	if err := os.Symlink(filepath.Join("profiles", "logos", idPartition(m.provs[0].acct.ID), "original", "logo.png"), link); err != nil && !os.IsExist(err) {
		return Timing{}, fmt.Errorf("storage symlink: %w", err)
	}
	sc.Symlinks++
	// larger binary files take the rest of the budget
	rest := budget - sc.Bytes
	for i := 0; rest > 0 && i < 4; i++ {
		size := rest / int64(4-i)
		if err := write(fmt.Sprintf("%s/cms/files/downloads/sdk-bundle-%d.tar.gz", m.provs[i%len(m.provs)].acct.S3Prefix, i+1), size, "\x1f\x8b\x08\x00"); err != nil {
			return Timing{}, err
		}
		rest -= size
	}
	rep.Storage = sc
	return timing(start, sc.Bytes, sc.Files), nil
}

// idPartition renders an id as paperclip does: 000/000/042.
func idPartition(id int64) string {
	s := fmt.Sprintf("%09d", id)
	return s[0:3] + "/" + s[3:6] + "/" + s[6:9]
}

func mkdirs(root, dir string, sc *StorageCount, mtime time.Time) error {
	if dir == root {
		return nil
	}
	if _, err := os.Lstat(dir); err == nil {
		return nil
	}
	if err := mkdirs(root, filepath.Dir(dir), sc, mtime); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return fmt.Errorf("storage directory: %w", err)
	}
	sc.Dirs++
	return nil
}

// fill writes n pseudo-random (incompressible) bytes from a ChaCha8
// stream seeded by r.
func fill(w *bufio.Writer, r *rand.Rand, n int64) {
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(r.Uint32())
	}
	c := rand.NewChaCha8(seed)
	buf := make([]byte, 64<<10)
	for n > 0 {
		k := min(n, int64(len(buf)))
		_, _ = c.Read(buf[:k])
		w.Write(buf[:k])
		n -= k
	}
}
