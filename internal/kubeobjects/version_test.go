package kubeobjects

import "testing"

func TestVersionFromTag(t *testing.T) {
	for image, want := range map[string]string{
		"registry.redhat.io/3scale-amp2/system-rhel8:3scale2.15":    "2.15",
		"registry.redhat.io/3scale-amp2/system-rhel8:3scale-2.14.1": "2.14",
		"quay.io/3scale/porta:2.13":                                 "2.13",
		"quay.io/3scale/porta:latest":                               "",
		"quay.io/3scale/porta":                                      "",
		"localhost:5000/porta":                                      "",
	} {
		if got := versionFromTag(image); got != want {
			t.Errorf("versionFromTag(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestMajorMinor(t *testing.T) {
	for release, want := range map[string]string{"2.15": "2.15", "2.15.1": "2.15", " 2.14 ": "2.14", "3scale2.13": "2.13", "": "", "master": "", "2": ""} {
		if got := majorMinor(release); got != want {
			t.Errorf("majorMinor(%q) = %q, want %q", release, got, want)
		}
	}
}
