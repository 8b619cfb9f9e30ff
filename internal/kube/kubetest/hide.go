package kubetest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// hidden reports whether path addresses one of the hidden API groups
// (/apis/GROUP or below).
func (s *Server) hidden(path string) bool {
	rest, ok := strings.CutPrefix(path, "/apis/")
	if !ok {
		return false
	}
	group, _, _ := strings.Cut(rest, "/")
	return slices.Contains(s.opts.HideGroups, group)
}

// notFound answers like an API server that does not serve the group.
func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}`))
}

// discovery is true for the group list (/apis), which the proxy filters.
func discovery(path string) bool { return path == "/apis" || path == "/apis/" }

// prepare asks the upstream for the plain (not aggregated) group list, so
// that its JSON can be filtered.
func prepare(r *http.Request) { r.Header.Set("Accept", "application/json") }

// filterGroups removes the hidden groups from an APIGroupList response.
func (s *Server) filterGroups(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var list map[string]any
	if err := json.Unmarshal(body, &list); err == nil {
		if groups, ok := list["groups"].([]any); ok {
			keep := groups[:0]
			for _, g := range groups {
				if m, ok := g.(map[string]any); ok {
					if name, _ := m["name"].(string); slices.Contains(s.opts.HideGroups, name) {
						continue
					}
				}
				keep = append(keep, g)
			}
			list["groups"] = keep
			if b, err := json.Marshal(list); err == nil {
				body = b
			}
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}
