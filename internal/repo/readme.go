package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"filippo.io/age"
	"github.com/3scale-ops/3scale-ops/internal/component"
)

// README.txt tells how to restore the snapshot by hand with standard
// tools. Every command is on a line of its own starting with "    $ ",
// written for sh, from the snapshot's directory, with the targets in the
// shell variables listed at the top (lines "    NAME=value  # what"):
// followed literally, the lines restore the snapshot (a test does exactly
// that). Lines that are not commands say what the operator does in
// between (stop or start a server, install the operator). No command
// writes into the snapshot's directory: a plain manifest.json or a key
// file there would make a snapshot of an encrypted repository damaged, or
// leave its key beside the data.
//
// In an encrypted repository README.txt says only how to decrypt
// README.txt.age, which holds the instructions: file names list tables and
// their sizes, which an unencrypted README would reveal.

const readmeAged = readmeName + ageSuffix

// ReadmeFormat is the version of the instructions Readme renders, recorded
// in the manifest: raise it whenever the rendering changes, so that verify
// does not take an older snapshot's README.txt, right in its own version,
// for a damaged one.
const ReadmeFormat = 2

// The variables of the repository key, in both README.txt and
// README.txt.age of an encrypted snapshot, and the line that recovers the
// key with the passphrase (a no-op when AGE_KEY exists: with an identity
// file, or after the first run).
const (
	readmeKeyVars = `    AGE_KEY=$HOME/3scale-ops-key.txt   # an age identity of the repository (AGE-SECRET-KEY-1…), outside the repository
    REPO_CONFIG=../../config.json      # config.json at the repository root (from S3, copy it too)
`
	readmeKeyLine = `[ -s "$AGE_KEY" ] || (umask 077 && jq -r .encryption.passphrase_key "$REPO_CONFIG" | age -d > "$AGE_KEY")`
)

// ReadmeStub is the plain README.txt of an encrypted snapshot.
func ReadmeStub(m *Manifest, location string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "3scale backup snapshot %s\nrepository: %s\n\n", m.ID, location)
	b.WriteString(`This snapshot is encrypted with age (https://age-encryption.org). How to restore
it, with 3scale-ops or by hand, is in README.txt.age, next to this file. Lines
starting with ` + "`$`" + ` are commands for sh (with age and jq), run from this directory.
First set the variables of the repository key:

` + readmeKeyVars + `
With the repository passphrase instead of an identity file, the first command
recovers the repository key from config.json into AGE_KEY (age asks for the
passphrase; the command does nothing when AGE_KEY exists). The second prints
the instructions:

    $ ` + readmeKeyLine + `
    $ age -d -i "$AGE_KEY" README.txt.age
`)
	return []byte(b.String())
}

// Readme renders the restore instructions of a snapshot from its manifest.
func Readme(m *Manifest, location string) []byte {
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	cmd := func(s string) { p("    $ %s\n", s) }
	p("3scale backup snapshot %s\n", m.ID)
	p("taken %s – %s by 3scale-ops %s", m.Start.Format("2006-01-02 15:04:05Z"), m.End.Format("15:04:05Z"), m.ToolVersion)
	if m.Namespace != "" {
		p(", namespace %s", m.Namespace)
	}
	if m.ThreescaleVersion != "" {
		p(", 3scale %s", m.ThreescaleVersion)
	}
	p("\nrepository: %s\n\n", location)
	p("The easy way: `3scale-ops restore %s`, or `3scale-ops backups export %s COMPONENT`.\n\n", m.ID, m.ID)
	p("The hard way, with standard tools only (zstd or gzip, jq, sha256sum, %smariadb or\n", map[bool]string{true: "age, ", false: ""}[m.Encrypted])
	p("mysql, psql, redis-server and redis-cli, tar, kubectl), follows.\n\n")

	p("Work in the snapshot's directory (from S3, copy the snapshot's prefix to a local\n")
	p("directory first, e.g. `aws s3 cp --recursive s3://BUCKET/PREFIX/snapshots/%s .`);\n", m.ID)
	p("no command below writes into it. Lines starting with `$` are commands for sh: run\n")
	p("them in order, in one shell. First set the variables of the stores you restore\n")
	p("(and export the passwords as MYSQL_PWD and PGPASSWORD):\n\n")
	if m.Encrypted {
		b.WriteString(readmeKeyVars)
	}
	for _, v := range readmeVars(m) {
		p("    %s\n", v)
	}
	var manifest string
	if m.Encrypted {
		p("\nFiles end in .age: they are encrypted with age. With the repository passphrase\n")
		p("instead of an identity file, this recovers the repository key from config.json\n")
		p("into AGE_KEY (age asks for the passphrase; it does nothing when AGE_KEY exists):\n\n")
		cmd(readmeKeyLine)
		manifest = `age -d -i "$AGE_KEY" manifest.json.age | jq -r ` + shq(manifestSums)
	} else {
		manifest = "jq -r " + shq(manifestSums) + " manifest.json"
	}
	p("\nThe manifest lists every file with its sha256 (stored bytes) and raw_sha256\n")
	p("(plain bytes). Check the stored files first (sha256sum prints only failures):\n\n")
	cmd(manifest + " | sha256sum -c --quiet")
	p("\nComponents, in restore order:\n\n")
	order := component.Restorable()
	seen := map[string]bool{}
	k := &readmeKube{}
	for _, name := range order {
		if c := m.Component(name); c != nil {
			seen[name] = true
			readmeComponent(p, cmd, k, c)
		}
	}
	for i := range m.Components {
		if c := &m.Components[i]; !seen[c.Name] {
			readmeComponent(p, cmd, k, c)
		}
	}
	p("After the data: scale the deployments back up, run `bundle exec rake zync:resync:domains`\n")
	p("in system-sidekiq, run `bundle exec rake backend:storage:enqueue_rewrite` there when\n")
	p("backend-redis was restored, and check the routes (Operating 3scale, chapter 7).\n")
	return []byte(b.String())
}

// manifestSums is the jq filter that turns a manifest into sha256sum -c
// input: the stored hash and path of every file.
const manifestSums = `.components[].files[] | .sha256 + "  " + .path`

// systemOnPostgres tells whether the system-mysql component c was written
// by the PostgreSQL engine (Porta on PostgreSQL).
func systemOnPostgres(c *Component) bool {
	_, mysql := c.Meta["mysql"]
	return !mysql && c.file("schema/pre-data.sql") != nil
}

// readmeVars lists the shell variables the components of m need.
func readmeVars(m *Manifest) []string {
	var out []string
	has := func(n string) bool { return m.Component(n) != nil }
	if has("secrets") || has("configmaps") || has("apimanager") {
		out = append(out, `NAMESPACE=3scale                    # the namespace 3scale runs in (kubectl points at the cluster)`)
	}
	if c := m.Component(component.SystemMySQL); c != nil {
		if systemOnPostgres(c) {
			out = append(out, `SYSTEM_PSQL="psql -X -q -v ON_ERROR_STOP=1 -d postgresql://USER@HOST:5432/system"   # an empty database`)
		} else {
			out = append(out, `MYSQL="mariadb -h HOST -P 3306 -u USER DATABASE"   # an empty database`)
		}
	}
	if has(component.SystemStorage) {
		out = append(out, `STORAGE_DIR=/opt/system/public/system  # where system's files live`)
	}
	if has(component.ZyncPostgres) {
		out = append(out, `PSQL="psql -X -q -v ON_ERROR_STOP=1 -d postgresql://USER@HOST:5432/zync_production"   # an empty database`)
	}
	for _, r := range []struct{ comp, v string }{{component.BackendRedis, "BACKEND_REDIS"}, {component.SystemRedis, "SYSTEM_REDIS"}} {
		c := m.Component(r.comp)
		if c == nil {
			continue
		}
		out = append(out,
			r.v+`_DIR=/var/lib/redis/data        # data directory of the stopped `+r.comp+` server`,
			r.v+`_URL=redis://HOST:6379         # the same server once started (redis-cli -u)`)
		if c.file("queues.rdb") != nil {
			out = append(out,
				`BACKEND_REDIS_QUEUES_DIR=/var/lib/redis/data  # data directory of the stopped queue server`,
				`BACKEND_REDIS_QUEUES_URL=redis://HOST:6379  # the queue server once started`)
		}
	}
	return out
}

func (c *Component) file(name string) *FileEntry {
	for i := range c.Files {
		if c.Files[i].Name == name {
			return &c.Files[i]
		}
	}
	return nil
}

// decode is the command that writes the plain bytes of f to stdout.
func decode(f FileEntry) string {
	path := shq(f.Path)
	var dec string
	switch f.Compression {
	case "zstd":
		dec = "zstd -dcq"
	case "gzip":
		dec = "gzip -dc"
	}
	if f.Encryption == "age" {
		if dec == "" {
			return `age -d -i "$AGE_KEY" ` + path
		}
		return `age -d -i "$AGE_KEY" ` + path + " | " + dec
	}
	if dec == "" {
		return "cat " + path
	}
	return dec + " " + path
}

// shq quotes s for sh when it needs it.
func shq(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./%+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// readmeKube remembers whether the namespace line was written.
type readmeKube struct{ namespaced bool }

func readmeComponent(p func(string, ...any), cmd func(string), k *readmeKube, c *Component) {
	p("%s\n", c.Name)
	switch c.Name {
	case "secrets", "configmaps", "apimanager":
		switch c.Name {
		case "apimanager":
			p("   A Kubernetes v1 List of the APIManager and the capabilities.3scale.net objects.\n")
			p("   Apply it after the secrets and configmaps, once the 3scale operator is installed\n")
			p("   in the namespace (it brings their CRDs): the operator then deploys 3scale on the\n")
			p("   restored secrets, and the data below goes into the servers it creates:\n")
		default:
			p("   A Kubernetes v1 List, applied into the 3scale namespace before anything else\n")
			p("   (an operator or template started without it makes new credentials):\n")
		}
		if !k.namespaced {
			k.namespaced = true
			cmd(`kubectl get namespace "$NAMESPACE" >/dev/null 2>&1 || kubectl create namespace "$NAMESPACE"`)
		}
		for _, f := range c.Files {
			cmd(decode(f) + ` | kubectl apply -n "$NAMESPACE" -f -`)
		}
	case component.SystemMySQL:
		if systemOnPostgres(c) {
			readmePostgres(p, cmd, c, "$SYSTEM_PSQL", "system-app, system-sidekiq and system-searchd")
		} else {
			readmeMySQL(p, cmd, c)
		}
	case component.ZyncPostgres:
		readmePostgres(p, cmd, c, "$PSQL", "zync and zync-que")
	case component.BackendRedis, component.SystemRedis:
		readmeRedis(p, cmd, c)
	case component.SystemStorage:
		p("   A tar of system's files (paths, modes, mtimes kept). Extract it into the local\n")
		p("   directory (or, for S3 file storage, into a directory you then upload with\n")
		p("   `aws s3 cp --recursive \"$STORAGE_DIR\" s3://BUCKET/`):\n")
		cmd(`mkdir -p "$STORAGE_DIR"`)
		for _, f := range c.Files {
			cmd(decode(f) + ` | tar -x -C "$STORAGE_DIR"`)
		}
	case "verify":
		p("   Authorization probes that `3scale-ops restore` replays to check the restored\n")
		p("   installation; a hand restore does not need them:\n")
		for _, f := range c.Files {
			p("   - %s  (%s, %d bytes plain)\n", f.Path, f.Format, f.RawSize)
		}
	default:
		p("   Files in the formats given:\n")
		for _, f := range c.Files {
			p("   - %s  (%s, %d bytes plain)\n", f.Path, f.Format, f.RawSize)
		}
	}
	p("\n")
}

// readmeMySQL: tables, then the data files (any order), then routines,
// views and triggers, which must come after the data (triggers would fire
// on the loaded rows).
func readmeMySQL(p func(string, ...any), cmd func(string), c *Component) {
	p("   SQL for the mariadb/mysql client, into an empty database, with system-app,\n")
	p("   system-sidekiq and system-searchd scaled to 0: the tables, then the data, then\n")
	p("   routines, views and triggers (after the data, or the triggers fire):\n")
	var pre, post, data, other []FileEntry
	for _, f := range c.Files {
		switch {
		case f.Name == "schema/tables.sql":
			pre = append(pre, f)
		case f.Name == "schema/post-data.sql":
			post = append(post, f)
		case strings.HasPrefix(f.Name, "data/"):
			data = append(data, f)
		default:
			other = append(other, f)
		}
	}
	sort.Slice(data, func(i, j int) bool { return data[i].Name < data[j].Name })
	for _, f := range append(append(append(pre, other...), data...), post...) {
		cmd(decode(f) + " | $MYSQL")
	}
}

// pgTable is what README.txt needs of a zync-postgres table's metadata.
type pgTable struct {
	Ident   string `json:"ident"`
	Columns string `json:"columns"`
	Files   []struct {
		Name string `json:"name"`
	} `json:"files"`
}

// readmePostgres: pre-data, each .copy file through a COPY … FROM STDIN
// (they are COPY text data, not SQL), post-data, then the sequences. psql
// is the client's variable ("$PSQL"), stopped names the workloads to scale
// to 0 first.
func readmePostgres(p func(string, ...any), cmd func(string), c *Component, psql, stopped string) {
	p("   For psql, into an empty database, with %s scaled to 0: the\n", stopped)
	p("   schema, the data (COPY text files, each loaded by a COPY … FROM STDIN), the keys,\n")
	p("   indexes and triggers, then the sequence values:\n")
	var tables []pgTable
	_ = json.Unmarshal(c.Meta["tables"], &tables)
	byName := map[string]FileEntry{}
	for _, f := range c.Files {
		byName[f.Name] = f
	}
	if f, ok := byName["schema/pre-data.sql"]; ok {
		cmd(decode(f) + " | " + psql)
	}
	listed := map[string]bool{}
	for _, t := range tables {
		for _, tf := range t.Files {
			f, ok := byName[tf.Name]
			if !ok {
				continue
			}
			listed[tf.Name] = true
			cmd(decode(f) + " | " + psql + " -c " + shq("COPY "+t.Ident+" ("+t.Columns+") FROM STDIN"))
		}
	}
	if f, ok := byName["data/large-objects.copy"]; ok {
		// (oid, bytea) rows: through a temporary table into lo_from_bytea.
		listed[f.Name] = true
		cmd(decode(f) + " | " + psql + " -c " + shq("CREATE TEMPORARY TABLE lo_in (loid oid, data bytea)") +
			" -c " + shq("COPY lo_in (loid, data) FROM STDIN") + " -c " + shq("SELECT count(lo_from_bytea(loid, data)) FROM lo_in"))
	}
	for _, f := range c.Files {
		if strings.HasSuffix(f.Name, ".copy") && !listed[f.Name] {
			p("   - %s: not in the component's table list; load it with COPY by hand\n", f.Path)
		}
	}
	for _, n := range []string{"schema/post-data.sql", "schema/sequences.sql"} {
		if f, ok := byName[n]; ok {
			cmd(decode(f) + " | " + psql)
		}
	}
}

// readmeRedis: the guide's dump.rdb procedure against one server.
func readmeRedis(p func(string, ...any), cmd func(string), c *Component) {
	v := map[string]string{component.BackendRedis: "BACKEND_REDIS", component.SystemRedis: "SYSTEM_REDIS"}[c.Name]
	p("   dump.rdb files that redis-server loads when it starts; they hold every database\n")
	p("   of the source server under its own number. In OpenShift, the Operating guide's\n")
	p("   procedure does the steps below through the redis-config ConfigMap (save \"\",\n")
	p("   appendonly no), a rollout and `oc cp` into /var/lib/redis/data.\n")
	for _, f := range c.Files {
		dir, url := v+"_DIR", v+"_URL"
		if f.Name == "queues.rdb" {
			dir, url = "BACKEND_REDIS_QUEUES_DIR", "BACKEND_REDIS_QUEUES_URL"
		}
		p("   %s: with the server stopped, move its old files aside and place the file:\n", f.Name)
		cmd(fmt.Sprintf(`mkdir -p "$%[1]s/old" && for f in dump.rdb appendonly.aof appendonlydir; do if [ -e "$%[1]s/$f" ]; then mv "$%[1]s/$f" "$%[1]s/old/"; fi; done`, dir))
		cmd(decode(f) + fmt.Sprintf(` > "$%s/dump.rdb"`, dir))
		p("   Start Redis with appendonly no (it loads dump.rdb), then turn the AOF on again\n")
		p("   (Redis writes it from the loaded data), wait until it is written, and check the\n")
		p("   key counts:\n")
		cmd(fmt.Sprintf(`redis-cli -u "$%s" CONFIG SET appendonly yes`, url))
		cmd(fmt.Sprintf(`while [ "$(redis-cli -u "$%s" INFO persistence | grep -Ec '^aof_rewrite_(in_progress|scheduled):1')" != 0 ]; do sleep 1; done`, url))
		cmd(fmt.Sprintf(`redis-cli -u "$%s" INFO keyspace`, url))
		p("   From now on the AOF holds the data: configure the server with appendonly yes\n")
		p("   again (in OpenShift: redis-config back as it was, and a rollout).\n")
	}
}

// putReadme writes README.txt (and README.txt.age when encrypted).
func (r *Repository) putReadme(ctx context.Context, m *Manifest) error {
	dir := snapshotsDir + m.ID + "/"
	if !r.Encrypted() {
		return r.be.Put(ctx, dir+readmeName, bytes.NewReader(Readme(m, r.Location())))
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r.rcpts...)
	if err != nil {
		return err
	}
	_, _ = w.Write(Readme(m, r.Location()))
	if err := w.Close(); err != nil {
		return err
	}
	if err := r.be.Put(ctx, dir+readmeAged, &buf); err != nil {
		return err
	}
	return r.be.Put(ctx, dir+readmeName, bytes.NewReader(ReadmeStub(m, r.Location())))
}

// checkReadme compares the snapshot's README.txt (and README.txt.age)
// with what its manifest says, and returns the differences. README.txt of
// another ReadmeFormat (an older or newer 3scale-ops) must only be there
// (and decrypt).
func (r *Repository) checkReadme(ctx context.Context, m *Manifest) ([]Problem, error) {
	dir := snapshotsDir + m.ID + "/"
	check := func(name string, aged bool, render func(*Manifest, string) []byte) ([]Problem, error) {
		rc, err := r.be.Get(ctx, dir+name)
		if errors.Is(err, ErrNotFound) {
			return []Problem{{m.ID, m.ID + "/" + name, "missing: the snapshot has no restore instructions"}}, nil
		}
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		var in io.Reader = rc
		if aged {
			if in, err = age.Decrypt(rc, r.ids...); err != nil {
				return []Problem{{m.ID, m.ID + "/" + name, "cannot be decrypted: " + err.Error()}}, nil
			}
		}
		got, err := io.ReadAll(io.LimitReader(in, 64<<20))
		if err != nil {
			return nil, err
		}
		loc := r.Location()
		for _, line := range strings.SplitN(string(got), "\n", 4) {
			if l, ok := strings.CutPrefix(line, "repository: "); ok {
				loc = l
			}
		}
		if m.ReadmeFormat == ReadmeFormat && !bytes.Equal(got, render(m, loc)) {
			return []Problem{{m.ID, m.ID + "/" + name, "does not match the manifest (its restore instructions would be wrong)"}}, nil
		}
		return nil, nil
	}
	if !r.Encrypted() {
		return check(readmeName, false, Readme)
	}
	out, err := check(readmeName, false, ReadmeStub)
	if err != nil {
		return nil, err
	}
	more, err := check(readmeAged, true, Readme)
	return append(out, more...), err
}
