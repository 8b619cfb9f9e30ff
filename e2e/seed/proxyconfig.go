package seed

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// proxyConfigContent is the APIcast configuration of one service as Porta
// stores it in proxy_configs.content (section 3.2 of the internals
// reference): the services row, the backend authentication and a nested
// proxy object with hosts, credentials location, error messages, policy
// chain and mapping rules (backend API rules prefixed with their path).
func (m *model) proxyConfigContent(s *service, version int, env string) string {
	px := s.Proxy
	updated := s.CreatedAt.Add(time.Duration(version) * 24 * time.Hour)
	authType, authValue := "service_token", s.Tokens[0]
	if s.prov == nil {
		authType, authValue = "provider_key", m.apps[0].UserKey
	}
	var chain []any
	_ = json.Unmarshal([]byte(px.PoliciesConfig), &chain)
	names := map[int64]string{}
	for _, mt := range s.allMetrics() {
		names[mt.ID] = mt.SystemName
	}
	var rules []map[string]any
	for _, r := range px.Rules {
		pattern := r.Pattern
		if r.OwnerType == "BackendApi" {
			pattern = strings.TrimSuffix(s.BackendPath, "/") + pattern
			if r.Pattern == "/" {
				pattern = s.BackendPath + "/"
			}
		}
		path, query, _ := strings.Cut(pattern, "?")
		qs := map[string]string{}
		for _, kv := range strings.Split(query, "&") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				qs[k] = v
			}
		}
		rules = append(rules, map[string]any{
			"id": r.ID, "proxy_id": px.ID, "http_method": r.HTTPMethod, "pattern": pattern, "metric_id": r.MetricID,
			"metric_system_name": names[r.MetricID], "delta": r.Delta, "tenant_id": r.TenantID, "position": r.Position,
			"last": r.Last, "redirect_url": nil, "owner_id": r.OwnerID, "owner_type": r.OwnerType,
			"parameters": placeholders(path), "querystring_parameters": qs,
			"created_at": s.CreatedAt.Format(time.RFC3339), "updated_at": updated.Format(time.RFC3339),
		})
	}
	var apiBackend any
	if s.Backend != nil {
		apiBackend = nil // products with backend APIs route by path ("subpaths")
	} else {
		apiBackend = "http://echo.internal:8080"
	}
	content := map[string]any{
		"id": s.ID, "account_id": s.AccountID, "name": s.Name, "oneline_description": nil, "description": "Généré — " + s.Name,
		"txt_api": nil, "txt_support": nil, "txt_features": nil, "created_at": s.CreatedAt.Format(time.RFC3339), "updated_at": updated.Format(time.RFC3339),
		"logo_file_name": nil, "logo_content_type": nil, "logo_file_size": nil, "state": s.State, "intentions_required": false,
		"draft_name": "", "infobar": nil, "terms": nil, "display_provider_keys": false, "tech_support_email": nil, "admin_support_email": nil,
		"credit_card_support_email": nil, "buyers_manage_apps": true, "buyers_manage_keys": true, "custom_keys_enabled": true,
		"buyer_plan_change_permission": "request", "buyer_can_select_plan": false, "notification_settings": map[string]any{"web_provider": []int{50, 80, 100}, "email_provider": []int{100}},
		"default_application_plan_id": s.AppPlans[0].ID, "default_service_plan_id": s.ServicePlan.ID, "tenant_id": s.TenantID,
		"system_name": s.SystemName, "backend_version": s.BackendVersion, "mandatory_app_key": true, "buyer_key_regenerate_enabled": true,
		"support_email": "support@seed.example.com", "referrer_filters_required": s.ReferrerFilters, "deployment_option": s.DeploymentOption,
		"kubernetes_service_link": nil, "backend_authentication_type": authType, "backend_authentication_value": authValue,
		"proxiable?": true,
		"proxy": map[string]any{
			"id": px.ID, "tenant_id": px.TenantID, "service_id": s.ID, "endpoint": px.Endpoint, "deployed_at": nil,
			"api_backend": apiBackend, "auth_app_key": px.AuthAppKey, "auth_app_id": px.AuthAppID, "auth_user_key": px.AuthUserKey,
			"credentials_location": px.CredentialsLocation, "error_auth_failed": "Authentication failed", "error_auth_missing": "Authentication parameters missing",
			"created_at": s.CreatedAt.Format(time.RFC3339), "updated_at": updated.Format(time.RFC3339),
			"error_status_auth_failed": 403, "error_headers_auth_failed": "text/plain; charset=us-ascii",
			"error_status_auth_missing": 403, "error_headers_auth_missing": "text/plain; charset=us-ascii",
			"error_no_match": "No Mapping Rule matched", "error_status_no_match": 404, "error_headers_no_match": "text/plain; charset=us-ascii",
			"error_limits_exceeded": "Usage limit exceeded", "error_status_limits_exceeded": 429, "error_headers_limits_exceeded": "text/plain; charset=us-ascii",
			"secret_token": px.SecretToken, "hostname_rewrite": px.HostnameRewrite, "oauth_login_url": nil, "sandbox_endpoint": px.Sandbox,
			"api_test_path": "/", "policies_config": chain, "authentication_method": s.BackendVersion, "oidc_issuer_endpoint": nil,
			"oidc_issuer_type": "keycloak", "jwt_claim_with_client_id": nil, "jwt_claim_with_client_id_type": "plain",
			"lock_version": px.LockVersion, "apicast_configuration_driven": true, "staging_domain": hostOf(px.Sandbox), "production_domain": hostOf(px.Endpoint),
			"endpoint_port": 443, "valid?": true, "service_backend_version": s.BackendVersion, "hosts": []string{hostOf(px.Endpoint), hostOf(px.Sandbox)},
			"backend":      map[string]any{"endpoint": "http://backend-listener:3000", "host": "backend-listener"},
			"policy_chain": chain, "proxy_rules": rules,
		},
	}
	if env == "production" {
		content["proxy"].(map[string]any)["deployed_at"] = updated.Format(time.RFC3339)
	}
	b, err := json.Marshal(content)
	if err != nil {
		panic(err) // only plain maps, strings and numbers: cannot fail
	}
	return string(b)
}

var placeholderRE = regexp.MustCompile(`\{([^}]+)\}`)

func placeholders(path string) []string {
	out := []string{}
	for _, m := range placeholderRE.FindAllStringSubmatch(path, -1) {
		out = append(out, m[1])
	}
	return out
}
