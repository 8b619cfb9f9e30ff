// Package gateway groups the embedded traffic components of 3scale-ops: an
// apisonator-compatible Service Management API served straight from the
// backend-redis key layout (package backend) and an APIcast-compatible
// gateway driven by the proxy configuration JSON (package apicast). They
// exist to prove a restore by serving real API traffic from restored data,
// and to stand in for the real components in an emergency. They must never
// write anything to Redis but what apisonator itself would write, and never
// print to the terminal.
package gateway
