package repo

import (
	"fmt"
	"strings"

	"github.com/3scale-ops/3scale-ops/internal/component"
)

// Readme renders README.txt: how to restore the snapshot by hand with
// standard tools, from its manifest.
func Readme(m *Manifest, location string) []byte {
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	p("3scale backup snapshot %s\n", m.ID)
	p("taken %s – %s by 3scale-ops %s", m.Start.Format("2006-01-02 15:04:05Z"), m.End.Format("15:04:05Z"), m.ToolVersion)
	if m.Namespace != "" {
		p(", namespace %s", m.Namespace)
	}
	if m.ThreescaleVersion != "" {
		p(", 3scale %s", m.ThreescaleVersion)
	}
	p("\nrepository: %s\n\n", location)
	p("The easy way: `3scale-ops restore %s`, or `3scale-ops backups export %s COMPONENT`.\n", m.ID, m.ID)
	p("The hard way, with standard tools only, is below. manifest.json%s lists every file\n", map[bool]string{true: ".age", false: ""}[m.Encrypted])
	p("with its sha256 (stored bytes) and raw_sha256 (plain bytes): check them with sha256sum.\n\n")

	p("1. Decode a file\n")
	decode := "zstd -dc FILE.zst"
	switch m.Compression {
	case "gzip":
		decode = "gzip -dc FILE.gz"
	case "none":
		decode = "cat FILE"
	}
	if m.Encrypted {
		p(`   Files end in .age: they are encrypted with age (https://age-encryption.org).
   With an age identity file:   age -d -i key.txt FILE.age | %s
   With the repository passphrase, first recover the repository key from
   config.json at the repository root (age asks for the passphrase):
       jq -r .encryption.passphrase_key config.json | age -d > key.txt
   then use key.txt as above. Decrypt the manifest the same way:
       age -d -i key.txt manifest.json.age > manifest.json
`, strings.Replace(decode, "FILE.zst", "-", 1))
		decode = strings.Replace(decode, " FILE", "", 1)
		p("   Below, DECODE stands for `age -d -i key.txt FILE | %s`.\n\n", decode)
	} else {
		p("   Below, DECODE stands for `%s`.\n\n", decode)
	}
	p("2. Components, in the order of the restore runbook\n\n")
	order := component.Restorable()
	seen := map[string]bool{}
	for _, name := range order {
		if c := m.Component(name); c != nil {
			seen[name] = true
			readmeComponent(p, c)
		}
	}
	for i := range m.Components {
		if c := &m.Components[i]; !seen[c.Name] {
			readmeComponent(p, c)
		}
	}
	p("3. After the data: scale the deployments back up, run `bundle exec rake zync:resync:domains`\n")
	p("   in system-sidekiq, and check the routes (Operating 3scale, chapter 7).\n")
	return []byte(b.String())
}

func readmeComponent(p func(string, ...any), c *Component) {
	p("%s\n", c.Name)
	switch c.Name {
	case "secrets", "configmaps", "apimanager":
		p("   A Kubernetes v1 List. Apply before the data, into the 3scale namespace:\n")
		p("       DECODE | kubectl apply -n NAMESPACE -f -\n")
	case "system-mysql":
		p("   SQL, loaded in the order listed (schema first):\n")
		p("       DECODE | mysql -h HOST -u root -p DATABASE        (one file after the other)\n")
	case "zync-postgres":
		p("   SQL for psql, loaded in the order listed, with zync and zync-que scaled to 0:\n")
		p("       DECODE | psql -v ON_ERROR_STOP=1 \"postgresql://USER@HOST/zync_production\"\n")
	case "backend-redis", "system-redis":
		p("   dump.rdb files that redis-server loads. Stop Redis (or set appendonly no), place the\n")
		p("   file as dump.rdb in its data directory (move appendonly.aof aside), start it, then\n")
		p("   BGREWRITEAOF and `CONFIG SET appendonly yes` once aof_rewrite_in_progress is 0:\n")
		p("       DECODE > /var/lib/redis/data/dump.rdb\n")
	case "system-storage":
		p("   A tar of /opt/system/public/system; extract it there (paths, modes, mtimes kept):\n")
		p("       DECODE | tar -x -C /opt/system/public/system\n")
	default:
		p("   DECODE > FILE (format given below)\n")
	}
	for _, f := range c.Files {
		p("   - %s  (%s, %d bytes plain", f.Path, f.Format, f.RawSize)
		if f.Count > 0 {
			p(", %d entries", f.Count)
		}
		p(")\n")
	}
	p("\n")
}
