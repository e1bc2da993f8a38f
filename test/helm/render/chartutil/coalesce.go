package chartutil

import (
	"fmt"
	"log"

	"github.com/mitchellh/copystructure"
)

// Coalescing is how Helm 3 lays the user's values over a chart's defaults
// (pkg/chartutil/coalesce.go, v3.21, with no subcharts):
//   - maps merge key by key, the user's side winning; scalars and lists are replaced whole;
//   - a null in the user's values deletes the chart's default for that key (at any depth),
//     while a null for a key the chart does not have stays as a present, nil key;
//   - a null that is the chart's own default stays, present and nil.
//   - a table and a non-table never merge: the user's value stays and a warning is logged.

// coalesceValues lays the chart's defaults under the user's values v (v is modified).
func coalesceValues(chartName string, defaults, v map[string]interface{}) {
	copied, err := copystructure.Copy(defaults)
	dv, ok := copied.(map[string]interface{})
	if err != nil || !ok {
		dv = defaults
	}
	for key, def := range dv {
		user, present := v[key]
		switch {
		case !present:
			v[key] = def
		case user == nil:
			delete(v, key)
		default:
			userTable, isTable := user.(map[string]interface{})
			if !isTable {
				continue
			}
			defTable, ok := def.(map[string]interface{})
			if !ok {
				if def != nil {
					log.Printf("warning: skipped value for %s.%s: Not a table.", chartName, key)
				}
				continue
			}
			coalesceTables(userTable, defTable, chartName+"."+key)
		}
	}
}

// coalesceTables merges src (lower precedence) into dst (authoritative); Helm's
// coalesceTablesFullKey with merge=false.
func coalesceTables(dst, src map[string]interface{}, prefix string) {
	if src == nil || dst == nil {
		return
	}
	srcNonNil := map[string]bool{}
	for key, val := range src {
		if val != nil {
			srcNonNil[key] = true
		}
	}
	for key, val := range src {
		fullKey := prefix + "." + key
		dv, present := dst[key]
		switch {
		case present && dv == nil && srcNonNil[key]:
			// the user nulls a chart default: the key goes
			delete(dst, key)
		case !present:
			dst[key] = val
		case isTable(val):
			if isTable(dv) {
				coalesceTables(dv.(map[string]interface{}), val.(map[string]interface{}), fullKey)
			} else {
				log.Printf("warning: cannot overwrite table with non table for %s (%v)", fullKey, val)
			}
		case isTable(dv) && val != nil:
			log.Printf("warning: destination for %s is a table. Ignoring non-table value (%v)", fullKey, val)
		}
	}
}

func isTable(v interface{}) bool {
	_, ok := v.(map[string]interface{})
	return ok
}

// CoalesceValues returns the chart's defaults with the user's values laid over them; the
// user's map is deep-copied first, so the caller's maps are left alone.
func CoalesceValues(chartName string, defaults, user map[string]interface{}) (Values, error) {
	copied, err := copystructure.Copy(user)
	if err != nil {
		return nil, fmt.Errorf("copying values: %w", err)
	}
	v, _ := copied.(map[string]interface{})
	if v == nil {
		v = map[string]interface{}{}
	}
	coalesceValues(chartName, defaults, v)
	return v, nil
}
