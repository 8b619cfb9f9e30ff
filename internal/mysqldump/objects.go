package mysqldump

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
)

func readEvents(ctx context.Context, c *sql.Conn, db string, s *schema) error {
	names, err := queryNames(ctx, c, `SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME`, db)
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	for _, n := range names {
		m, err := showCreate(ctx, c, "SHOW CREATE EVENT "+quoteIdent(n))
		if err != nil {
			return fmt.Errorf("SHOW CREATE EVENT %s (the dump user needs the EVENT privilege): %w", n, err)
		}
		s.Events = append(s.Events, namedDDL{Name: "EVENT " + n, SQL: stripDefiner(m["Create Event"]), Definer: definerOf(m["Create Event"]),
			SQLMode: m["sql_mode"], Collation: m["collation_connection"], Charset: m["character_set_client"], TimeZone: m["time_zone"]})
	}
	return nil
}

var rowStartRe = regexp.MustCompile("(?m)^\\s*`((?:[^`]|``)+)` [^\n]*GENERATED ALWAYS AS ROW (START|END)")

// periodColumns names the row start and end columns of a system-versioned
// table: the declared ones, or MariaDB's implicit ROW_START and ROW_END.
func periodColumns(create string) (start, end string) {
	start, end = "ROW_START", "ROW_END"
	for _, m := range rowStartRe.FindAllStringSubmatch(create, -1) {
		name := strings.ReplaceAll(m[1], "``", "`")
		if m[2] == "START" {
			start = name
		} else {
			end = name
		}
	}
	return start, end
}
