package repo

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
)

// README.txt of an encrypted snapshot reveals no file (table) names or
// sizes; the instructions are in README.txt.age, and every decode command
// is a real pipeline (age, then zstd) naming the stored file.
func TestReadmeEncryptedRevealsNothing(t *testing.T) {
	be := localBackend(t)
	opts := testOpts("zstd", "recipients", t)
	r, err := Init(ctx, be, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := writeSnapshot(t, r, 1000)
	dir := "snapshots/" + m.ID + "/"
	plain := string(getObject(t, be, dir+"README.txt"))
	for _, f := range m.Components[0].Files {
		if strings.Contains(plain, "part-") || strings.Contains(plain, f.Path) {
			t.Fatalf("plain README.txt of an encrypted snapshot names files:\n%s", plain)
		}
	}
	if !strings.Contains(plain, "README.txt.age") || strings.Contains(plain, "system-mysql") {
		t.Fatalf("plain README.txt:\n%s", plain)
	}
	dec, err := age.Decrypt(bytes.NewReader(getObject(t, be, dir+"README.txt.age")), opts.Keys.Identities...)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := io.ReadAll(dec)
	f := m.Component("system-mysql").Files[0]
	want := `$ age -d -i "$AGE_KEY" ` + f.Path + ` | zstd -dcq | $MYSQL`
	if !strings.Contains(string(full), want) {
		t.Fatalf("README.txt.age has no line %q:\n%s", want, full)
	}
	if strings.Contains(string(full), "-dc.zst") || strings.Contains(string(full), "DECODE") {
		t.Fatalf("README.txt.age has a placeholder or a broken decode line:\n%s", full)
	}
	res, err := r.Verify(ctx, m.ID, false, nil)
	if err != nil || len(res.Problems) != 0 {
		t.Fatalf("verify of an intact snapshot: %+v %v", res.Problems, err)
	}
}

// verify checks README.txt: missing or not matching the manifest is a
// problem (exit 3), as a damaged data file is.
func TestVerifyChecksReadme(t *testing.T) {
	for _, enc := range []string{"none", "passphrase"} {
		t.Run(enc, func(t *testing.T) {
			be := localBackend(t)
			r, err := Init(ctx, be, testOpts("gzip", enc, t))
			if err != nil {
				t.Fatal(err)
			}
			m, _ := writeSnapshot(t, r, 1000)
			dir := "snapshots/" + m.ID + "/"
			res, err := r.Verify(ctx, m.ID, false, nil)
			if err != nil || len(res.Problems) != 0 {
				t.Fatalf("intact: %+v %v", res.Problems, err)
			}
			corrupt(t, be, dir+"README.txt", func(b []byte) []byte { return bytes.Replace(b, []byte("age"), []byte("AGE"), 1) })
			if enc == "none" {
				corrupt(t, be, dir+"README.txt", func(b []byte) []byte { return bytes.Replace(b, []byte("gzip -dc"), []byte("zstd -dc"), 1) })
			}
			res, err = r.Verify(ctx, m.ID, false, nil)
			if err != nil || len(res.Problems) != 1 || res.Problems[0].File != m.ID+"/README.txt" || !strings.Contains(res.Problems[0].Problem, "does not match") {
				t.Fatalf("edited README.txt: %+v %v", res.Problems, err)
			}
			if err := be.Delete(ctx, dir+"README.txt"); err != nil {
				t.Fatal(err)
			}
			res, _ = r.Verify(ctx, m.ID, false, nil)
			if len(res.Problems) != 1 || !strings.Contains(res.Problems[0].Problem, "missing") {
				t.Fatalf("deleted README.txt: %+v", res.Problems)
			}
		})
	}
}

// No README.txt command writes into the snapshot's directory (a plain
// manifest.json there makes a snapshot of an encrypted repository damaged;
// a key file there sits beside the data it opens): every redirection goes
// to a path from a variable.
func TestReadmeCommandsWriteOnlyWhereTheVariablesSay(t *testing.T) {
	for _, enc := range []string{"none", "passphrase"} {
		t.Run(enc, func(t *testing.T) {
			be := localBackend(t)
			opts := testOpts("zstd", enc, t)
			r, err := Init(ctx, be, opts)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := writeSnapshot(t, r, 1000)
			texts := []string{string(Readme(m, r.Location()))}
			if enc != "none" {
				texts = append(texts, string(ReadmeStub(m, r.Location())))
			}
			redirect := regexp.MustCompile(`>\s*([^&\s|)]+)`)
			for _, text := range texts {
				n := 0
				for _, line := range strings.Split(text, "\n") {
					cmd, ok := strings.CutPrefix(line, "    $ ")
					if !ok {
						continue
					}
					n++
					for _, m := range redirect.FindAllStringSubmatch(cmd, -1) {
						if target := m[1]; target != "/dev/null" && !strings.HasPrefix(target, `"$`) {
							t.Errorf("README writes into %s, inside the snapshot's directory: %s", target, cmd)
						}
					}
				}
				if n == 0 {
					t.Fatalf("README has no command:\n%s", text)
				}
			}
			if enc != "none" && !strings.Contains(texts[1], "    $ age -d -i \"$AGE_KEY\" README.txt.age\n") {
				t.Fatalf("README.txt of an encrypted snapshot does not print README.txt.age:\n%s", texts[1])
			}
		})
	}
}

// A snapshot written with another version of the instructions (here: one
// from before readme_format was recorded) keeps its README.txt: verify
// asks only that it be there, and still compares a current one.
func TestVerifyAcceptsReadmeOfAnotherFormat(t *testing.T) {
	be := localBackend(t)
	r, err := Init(ctx, be, testOpts("zstd", "none", t))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := writeSnapshot(t, r, 1000)
	if m.ReadmeFormat != ReadmeFormat {
		t.Fatalf("manifest readme_format %d, want %d", m.ReadmeFormat, ReadmeFormat)
	}
	dir := "snapshots/" + m.ID + "/"
	old := func(b []byte) []byte { return bytes.Replace(b, []byte("sha256sum -c"), []byte("sha256sum --check"), 1) }
	corrupt(t, be, dir+"README.txt", old)
	if res, err := r.Verify(ctx, m.ID, false, nil); err != nil || len(res.Problems) != 1 || !strings.Contains(res.Problems[0].Problem, "does not match") {
		t.Fatalf("an edited README.txt of the current format: %+v %v", res.Problems, err)
	}
	corrupt(t, be, dir+"manifest.json", func(b []byte) []byte {
		return regexp.MustCompile(`,?\s*"readme_format":\s*\d+`).ReplaceAll(b, nil)
	})
	if res, err := r.Verify(ctx, m.ID, false, nil); err != nil || len(res.Problems) != 0 {
		t.Fatalf("README.txt of a snapshot from before readme_format: %+v %v", res.Problems, err)
	}
	if err := be.Delete(ctx, dir+"README.txt"); err != nil {
		t.Fatal(err)
	}
	if res, _ := r.Verify(ctx, m.ID, false, nil); len(res.Problems) != 1 || !strings.Contains(res.Problems[0].Problem, "missing") {
		t.Fatalf("a missing README.txt of an older format: %+v", res.Problems)
	}
}
