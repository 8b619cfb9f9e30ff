package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/3scale-ops/3scale-ops/internal/rdb"
	"github.com/3scale-ops/3scale-ops/internal/repo"
	"github.com/urfave/cli/v2"
)

func backupsShow(c *cli.Context) error {
	g := getGlobals(c)
	r, err := openForRead(c.Context, c)
	if err != nil {
		return err
	}
	m, err := loadRef(c.Context, r, c.Args().First())
	if err != nil {
		return err
	}
	comps := m.Components
	if name := c.Args().Get(1); name != "" {
		comp := m.Component(name)
		if comp == nil {
			return errs.UsageError("components of this snapshot: "+strings.Join(m.ComponentNames(), ", "), "snapshot %s has no component %q", m.ID, name)
		}
		if g.JSON() {
			return g.printJSON(comp)
		}
		comps = []repo.Component{*comp}
	} else if g.JSON() {
		return g.printJSON(m)
	}
	g.printf("snapshot     %s\n", m.ID)
	g.printf("repository   %s\n", r.Location())
	g.printf("time         %s – %s (%s)\n", m.Start.Local().Format(time.RFC3339), m.End.Local().Format(time.RFC3339), m.End.Sub(m.Start).Round(time.Second))
	g.printf("tool         3scale-ops %s\n", m.ToolVersion)
	if m.Namespace != "" {
		g.printf("namespace    %s\n", m.Namespace)
	}
	if m.ThreescaleVersion != "" {
		g.printf("3scale       %s\n", m.ThreescaleVersion)
	}
	g.printf("size         %s stored, compression %s, encrypted %v\n", humanBytes(m.Size()), m.Compression, m.Encrypted)
	for k, v := range m.Tags {
		g.printf("tag          %s=%s\n", k, v)
	}
	for _, comp := range comps {
		g.printf("\n%s  (%s)\n", comp.Name, comp.Duration)
		keys := make([]string, 0, len(comp.Meta))
		for k := range comp.Meta {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := string(comp.Meta[k])
			if len(v) > 200 {
				v = v[:200] + "…"
			}
			g.printf("  %s: %s\n", k, v)
		}
		rows := [][]string{}
		for _, f := range comp.Files {
			count := ""
			if f.Count > 0 {
				count = fmt.Sprint(f.Count)
			}
			rows = append(rows, []string{"  " + f.Path, f.Format, humanBytes(f.RawSize), humanBytes(f.Size), count, f.SHA256[:16]})
		}
		table(g.Stdout, []string{"  FILE", "FORMAT", "PLAIN", "STORED", "COUNT", "SHA256"}, rows)
		printRedisKeyspace(g, comp)
	}
	return nil
}

// printRedisKeyspace shows, for a Redis component, the key counts per
// database and their type breakdown read from the RDB at backup time.
func printRedisKeyspace(g *globals, comp repo.Component) {
	raw, ok := comp.Meta[rdb.MetaKey]
	if !ok {
		return
	}
	var meta rdb.Meta
	if json.Unmarshal(raw, &meta) != nil {
		return
	}
	for _, f := range meta.Files {
		g.printf("\n  %s (%s, %s):\n", f.File, f.Role, f.Path)
		rows := [][]string{}
		for _, d := range f.DBs {
			types := make([]string, 0, len(d.Types))
			for t, n := range d.Types {
				types = append(types, fmt.Sprintf("%s=%d", t, n))
			}
			sort.Strings(types)
			rows = append(rows, []string{fmt.Sprintf("  db%d", d.DB), fmt.Sprint(d.Keys), fmt.Sprint(d.Expires), strings.Join(types, " ")})
		}
		table(g.Stdout, []string{"  DB", "KEYS", "EXPIRES", "TYPES"}, rows)
	}
}
