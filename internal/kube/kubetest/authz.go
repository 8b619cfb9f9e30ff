package kubetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Call is one request as the API server's authorizer sees it: the RBAC
// verb and resource (a Role rule grants exactly these).
type Call struct {
	Verb        string // get, list, watch, create, update, patch, delete, deletecollection
	Group       string // "" for the core group
	Resource    string
	Subresource string // "exec", "scale", … or ""
	Namespace   string
}

// Rule is the call in the words of a Role: "create pods/exec", "list
// deployments.apps".
func (c Call) Rule() string {
	r := c.Resource
	if c.Subresource != "" {
		r += "/" + c.Subresource
	}
	if c.Group != "" {
		r += "." + c.Group
	}
	return c.Verb + " " + r
}

// Calls returns the distinct calls received so far (proxied requests and
// the exec requests this server authorised), in the order first seen:
// what the client really did, for comparing with a Role.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *Server) recordCall(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.calls, c) {
		s.calls = append(s.calls, c)
	}
}

// callOf maps a resource request to its RBAC attributes, the way the API
// server's request-info resolver does; ok is false for discovery and
// other non-resource paths.
func callOf(r *http.Request) (Call, bool) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var c Call
	var rest []string
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		c.Group, rest = parts[1], parts[3:]
	default:
		return Call{}, false
	}
	if len(rest) >= 3 && rest[0] == "namespaces" {
		c.Namespace, rest = rest[1], rest[2:]
	}
	c.Resource = rest[0]
	name := ""
	if len(rest) > 1 {
		name = rest[1]
	}
	if len(rest) > 2 {
		c.Subresource = rest[2]
	}
	watch := boolParam(r.URL.Query().Get("watch"))
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case watch:
			c.Verb = "watch"
		case name == "":
			c.Verb = "list"
		default:
			c.Verb = "get"
		}
	case http.MethodPost:
		c.Verb = "create"
	case http.MethodPut:
		c.Verb = "update"
	case http.MethodPatch:
		c.Verb = "patch"
	case http.MethodDelete:
		c.Verb = "delete"
		if name == "" {
			c.Verb = "deletecollection"
		}
	default:
		return Call{}, false
	}
	return c, true
}

// execVerbs are the verbs the API server checks on pods/exec: a WebSocket
// exec is a GET, authorised as get and, since Kubernetes 1.31
// (AuthorizePodWebsocketUpgradeCreatePermission), as create too; a SPDY
// exec is a POST, authorised as create.
func execVerbs(method string) []string {
	if method == http.MethodGet {
		return []string{"get", "create"}
	}
	return []string{"create"}
}

// authorizeExec does, for an exec request, what the API server does
// before it hands the stream to the kubelet: each verb of execVerbs is
// checked for the caller (its bearer token or impersonation headers,
// forwarded in a SelfSubjectAccessReview), then the pod must exist. It
// answers the refusal itself (403 or 404 with a metav1.Status, as the API
// server does) and returns false. Without an upstream there is nothing to
// ask: every exec is allowed.
func (s *Server) authorizeExec(w http.ResponseWriter, r *http.Request, req Request) bool {
	if s.upstream == nil {
		return true
	}
	ctx := r.Context()
	for _, verb := range execVerbs(r.Method) {
		s.recordCall(Call{Verb: verb, Resource: "pods", Subresource: "exec", Namespace: req.Namespace})
		allowed, reason, err := s.accessReview(ctx, r, verb, req)
		if err != nil {
			writeStatus(w, apierrors.NewInternalError(fmt.Errorf("authorize exec: %w", err)))
			return false
		}
		if !allowed {
			user := s.userOf(ctx, r)
			msg := fmt.Sprintf("User %q cannot %s resource \"pods/exec\" in API group \"\" in the namespace %q", user, verb, req.Namespace)
			if reason != "" {
				msg += ": " + reason
			}
			writeStatus(w, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, req.Pod, fmt.Errorf("%s", msg)))
			return false
		}
	}
	code, body, err := s.upstreamDo(ctx, nil, http.MethodGet, "/api/v1/namespaces/"+req.Namespace+"/pods/"+req.Pod, nil)
	switch {
	case err != nil:
		writeStatus(w, apierrors.NewInternalError(fmt.Errorf("get pod %s/%s: %w", req.Namespace, req.Pod, err)))
		return false
	case code == http.StatusNotFound:
		writeStatus(w, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, req.Pod))
		return false
	case code != http.StatusOK:
		writeStatus(w, apierrors.NewInternalError(fmt.Errorf("get pod %s/%s: HTTP %d: %s", req.Namespace, req.Pod, code, body)))
		return false
	}
	return true
}

// accessReview asks the API server whether the caller of r may verb the
// exec subresource of the pod.
func (s *Server) accessReview(ctx context.Context, r *http.Request, verb string, req Request) (bool, string, error) {
	review := authzv1.SelfSubjectAccessReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SelfSubjectAccessReview"},
		Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authzv1.ResourceAttributes{
			Namespace: req.Namespace, Verb: verb, Resource: "pods", Subresource: "exec", Name: req.Pod}},
	}
	code, body, err := s.upstreamDo(ctx, r, http.MethodPost, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review)
	if err != nil {
		return false, "", err
	}
	if code != http.StatusCreated && code != http.StatusOK {
		return false, "", fmt.Errorf("selfsubjectaccessreview: HTTP %d: %s", code, body)
	}
	if err := json.Unmarshal(body, &review); err != nil {
		return false, "", fmt.Errorf("selfsubjectaccessreview: %w", err)
	}
	return review.Status.Allowed, review.Status.Reason, nil
}

// userOf is the caller's user name, as the API server authenticated it.
func (s *Server) userOf(ctx context.Context, r *http.Request) string {
	review := authnv1.SelfSubjectReview{TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "SelfSubjectReview"}}
	code, body, err := s.upstreamDo(ctx, r, http.MethodPost, "/apis/authentication.k8s.io/v1/selfsubjectreviews", review)
	if err != nil || code != http.StatusCreated || json.Unmarshal(body, &review) != nil {
		return "unknown"
	}
	return review.Status.UserInfo.Username
}

// upstreamDo sends one request to the upstream API server, as the caller
// of from (its Authorization and Impersonate-* headers; nil: as the
// upstream configuration's own user).
func (s *Server) upstreamDo(ctx context.Context, from *http.Request, method, path string, in any) (int, []byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		body = bytes.NewReader(b)
	}
	u := *s.upstream
	u.Path = path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if from != nil {
		for k, v := range from.Header {
			if k == "Authorization" || strings.HasPrefix(k, "Impersonate-") {
				req.Header[k] = slices.Clone(v)
			}
		}
	}
	resp, err := s.upstreamRT.RoundTrip(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// writeStatus answers with the API status of err, as the API server does.
func writeStatus(w http.ResponseWriter, err apierrors.APIStatus) {
	st := err.Status()
	st.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}
	b, _ := json.Marshal(st)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_, _ = w.Write(b)
}
