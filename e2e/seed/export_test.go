package seed

// PortaTables is Porta's DDL as the generator's tables start from, for the
// tests of package seed_test.
var PortaTables = portaTables
