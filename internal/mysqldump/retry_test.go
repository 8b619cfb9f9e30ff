package mysqldump

import (
	"errors"
	"fmt"
	"testing"

	"github.com/3scale-ops/3scale-ops/internal/errs"
	"github.com/go-sql-driver/mysql"
)

func TestRetryableLockConflicts(t *testing.T) {
	deadlock := &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock; try restarting transaction"}
	wrapped := errs.Wrap(errs.Failure, fmt.Errorf("table a, file data/a.00001.sql: %w", deadlock), "hint")
	if !retryable(wrapped) || !retryable(&mysql.MySQLError{Number: 1205}) {
		t.Fatal("deadlock and lock wait timeout must be retried")
	}
	if retryable(&mysql.MySQLError{Number: 1062}) || retryable(errors.New("stream ends early")) {
		t.Fatal("other errors must not be retried")
	}
}
