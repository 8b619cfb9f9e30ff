// Package component is the one table of snapshot components: their names
// (as on the command line and in snapshots), the engine package that backs
// each up and restores it, the runbook's restore order, and what the
// verification step needs from each. Config, the engines, the restore plan
// and the CLI's help all read it.
//
// It is stdlib-only and holds data, never behaviour: nothing here opens a
// connection or imports another package of this module.
package component

import (
	"slices"
	"strings"
)

// Component names.
const (
	Secrets       = "secrets"
	ConfigMaps    = "configmaps"
	APIManager    = "apimanager"
	SystemMySQL   = "system-mysql"
	SystemStorage = "system-storage"
	ZyncPostgres  = "zync-postgres"
	BackendRedis  = "backend-redis"
	SystemRedis   = "system-redis"
	// Verify is the probes recorded at backup time; it holds no
	// restorable data.
	Verify = "verify"
)

// BackendRedisQueues is a connection, not a component: the queue server of
// backend-redis (its data is part of the backend-redis component).
const BackendRedisQueues = "backend-redis-queues"

// Class says what kind of thing a component is.
type Class string

const (
	Data Class = "data" // a data store: database, Redis, files
	Kube Class = "kube" // Kubernetes objects; needs a cluster
	Meta Class = "meta" // recorded alongside the data, not restored
)

// Info is one row of the table.
type Info struct {
	Name   string
	Class  Class
	Engine string // the package that backs it up and restores it
	// VerifyNeeds are the components whose data the verification step
	// reads; a restore verifies only when each is restored or reachable.
	VerifyNeeds []string
	// Describes is one line for help and the snapshot README.
	Describes string
}

// Table lists every component in the runbook's restore order.
var Table = []Info{
	{Name: Secrets, Class: Kube, Engine: "kubeobjects", Describes: "the 3scale Secrets of the namespace"},
	{Name: ConfigMaps, Class: Kube, Engine: "kubeobjects", Describes: "the 3scale ConfigMaps of the namespace"},
	{Name: APIManager, Class: Kube, Engine: "kubeobjects", Describes: "the APIManager CR and the capabilities.3scale.net objects"},
	// The system database keeps this name when it runs on PostgreSQL
	// (Porta on PostgreSQL); pgdump then backs it up.
	{Name: SystemMySQL, Class: Data, Engine: "mysqldump", Describes: "system's database, MySQL/MariaDB or PostgreSQL (accounts, services, applications)"},
	{Name: SystemStorage, Class: Data, Engine: "storage", Describes: "system's uploaded files (/opt/system/public/system)"},
	{Name: ZyncPostgres, Class: Data, Engine: "pgdump", Describes: "zync's PostgreSQL database"},
	{Name: BackendRedis, Class: Data, Engine: "rdb", Describes: "apisonator's Redis (usage counters, application keys, queues)"},
	{Name: SystemRedis, Class: Data, Engine: "rdb", Describes: "system's Redis (sidekiq jobs, caches)"},
	{Name: Verify, Class: Meta, Engine: "verify", VerifyNeeds: []string{SystemMySQL, BackendRedis}, Describes: "probes: authorization results replayed after a restore"},
}

// Lookup returns the row of name.
func Lookup(name string) (Info, bool) {
	for _, c := range Table {
		if c.Name == name {
			return c, true
		}
	}
	return Info{}, false
}

// Names lists the components of the given classes (every class when none
// is given), in restore order.
func Names(classes ...Class) []string {
	var out []string
	for _, c := range Table {
		if len(classes) == 0 || slices.Contains(classes, c.Class) {
			out = append(out, c.Name)
		}
	}
	return out
}

// Restorable lists the components a restore can restore, in order.
func Restorable() []string { return Names(Kube, Data) }

// Order is the position of name in the restore order (-1: unknown).
func Order(name string) int {
	return slices.IndexFunc(Table, func(c Info) bool { return c.Name == name })
}

// Sort orders names by restore order, unknown names last.
func Sort(names []string) {
	slices.SortStableFunc(names, func(a, b string) int {
		ia, ib := Order(a), Order(b)
		if ia < 0 {
			ia = len(Table)
		}
		if ib < 0 {
			ib = len(Table)
		}
		return ia - ib
	})
}

// VerifyNeeds are the components the verification step reads.
func VerifyNeeds() []string {
	c, _ := Lookup(Verify)
	return c.VerifyNeeds
}

// Help is the component list for command help: one line per component.
func Help() string {
	var b strings.Builder
	for _, c := range Table {
		b.WriteString("  " + c.Name + strings.Repeat(" ", max(1, 16-len(c.Name))) + c.Describes + "\n")
	}
	return b.String()
}
