package component

import (
	"slices"
	"testing"
)

func TestTableIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Table {
		if seen[c.Name] {
			t.Errorf("component %s listed twice", c.Name)
		}
		seen[c.Name] = true
		if c.Engine == "" || c.Describes == "" {
			t.Errorf("component %s has no engine or description", c.Name)
		}
		for _, n := range c.VerifyNeeds {
			if _, ok := Lookup(n); !ok {
				t.Errorf("component %s needs unknown component %s", c.Name, n)
			}
		}
	}
	want := []string{Secrets, ConfigMaps, APIManager, SystemMySQL, SystemStorage, ZyncPostgres, BackendRedis, SystemRedis}
	if got := Restorable(); !slices.Equal(got, want) {
		t.Fatalf("restore order = %v, want the runbook's %v", got, want)
	}
	names := []string{"nope", BackendRedis, Secrets, SystemMySQL}
	Sort(names)
	if !slices.Equal(names, []string{Secrets, SystemMySQL, BackendRedis, "nope"}) {
		t.Fatalf("Sort = %v", names)
	}
	if !slices.Equal(Names(Data), []string{SystemMySQL, SystemStorage, ZyncPostgres, BackendRedis, SystemRedis}) {
		t.Fatalf("data components = %v", Names(Data))
	}
}
