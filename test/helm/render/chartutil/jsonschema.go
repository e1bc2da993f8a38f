package chartutil

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/xeipuuv/gojsonschema"
	"sigs.k8s.io/yaml"
)

// ValidateAgainstSchema checks the coalesced values against values.schema.json with
// gojsonschema (drafts 4, 6 and 7), as Helm 3.0 to 3.18.4 did (pkg/chartutil/jsonschema.go of
// v3.17): one "- field: description" line per violation. Helm 3.18.5+ uses
// santhosh-tekuri/jsonschema, which Debian does not package; see ../../README.md.
func ValidateAgainstSchema(values Values, schema []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unable to validate schema: %s", r)
		}
	}()
	asYAML, err := yaml.Marshal(values)
	if err != nil {
		return err
	}
	asJSON, err := yaml.YAMLToJSON(asYAML)
	if err != nil {
		return err
	}
	if bytes.Equal(asJSON, []byte("null")) {
		asJSON = []byte("{}")
	}
	result, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewBytesLoader(asJSON))
	if err != nil {
		return err
	}
	if result.Valid() {
		return nil
	}
	var sb strings.Builder
	for _, e := range result.Errors() {
		fmt.Fprintf(&sb, "- %s\n", e)
	}
	return errors.New(sb.String())
}
