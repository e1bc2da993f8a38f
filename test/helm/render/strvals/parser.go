// Package strvals reads --set and --set-string lines into a values map, with Helm 3's grammar
// (helm.sh/helm/v3/pkg/strvals, v3.21):
//
//	line    = assign { "," assign }
//	assign  = path "=" ( "{" item { "," item } "}" | value )
//	path    = name { "." name | "[" index "]" }
//
// A backslash escapes the next character ("a\.b=1" sets the key "a.b"). With --set, values are
// typed: true/false (any case), null, 0 and integers without a leading zero become bool, nil and
// int64; everything else stays a string. --set-string keeps every value a string.
package strvals

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Helm's limits on list indexes and on the nesting of names.
const (
	maxIndex           = 65536
	maxNestedNameLevel = 30
)

var errNotList = errors.New("not a list")

// ParseInto parses a --set line into dest.
func ParseInto(s string, dest map[string]interface{}) error {
	return (&parser{sc: bytes.NewBufferString(s), forceString: false}).parse(dest)
}

// ParseIntoString parses a --set-string line into dest.
func ParseIntoString(s string, dest map[string]interface{}) error {
	return (&parser{sc: bytes.NewBufferString(s), forceString: true}).parse(dest)
}

type parser struct {
	sc          *bytes.Buffer
	forceString bool
}

func (p *parser) parse(data map[string]interface{}) error {
	for {
		err := p.key(data, 0)
		if err == nil {
			continue
		}
		if err == io.EOF {
			return nil
		}
		return err
	}
}

// key reads one name and what follows it. A wrong shape in the existing data (a list where a
// map is needed, or the reverse) panics in the type assertion, as in Helm, and comes back as
// Helm's "unable to parse key" error.
func (p *parser) key(data map[string]interface{}, level int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unable to parse key: %s", r)
		}
	}()
	k, last, err := runesUntil(p.sc, "=[,.")
	name := string(k)
	switch {
	case err != nil:
		if len(k) == 0 {
			return err
		}
		return fmt.Errorf("key %q has no value", name)
	case last == '[':
		i, err := p.keyIndex()
		if err != nil {
			return fmt.Errorf("error parsing index: %w", err)
		}
		list := []interface{}{}
		if _, ok := data[name]; ok {
			list = data[name].([]interface{})
		}
		list, err = p.listItem(list, i, level)
		set(data, name, list)
		return err
	case last == '=':
		vl, err := p.valList()
		switch err {
		case nil:
			set(data, name, vl)
			return nil
		case io.EOF:
			set(data, name, "")
			return err
		case errNotList:
			rs, err := p.val()
			if err != nil && err != io.EOF {
				return err
			}
			set(data, name, p.typed(rs))
			return nil
		default:
			return err
		}
	case last == ',':
		set(data, name, "")
		return fmt.Errorf("key %q has no value (cannot end with ,)", name)
	default: // '.'
		level++
		if level > maxNestedNameLevel {
			return fmt.Errorf("value name nested level is greater than maximum supported nested level of %d", maxNestedNameLevel)
		}
		inner := map[string]interface{}{}
		if _, ok := data[name]; ok {
			inner = data[name].(map[string]interface{})
		}
		err := p.key(inner, level)
		if err == nil && len(inner) == 0 {
			return fmt.Errorf("key map %q has no value", name)
		}
		if len(inner) != 0 {
			set(data, name, inner)
		}
		return err
	}
}

func set(data map[string]interface{}, key string, val interface{}) {
	if key != "" {
		data[key] = val
	}
}

func setIndex(list []interface{}, index int, val interface{}) ([]interface{}, error) {
	if index < 0 {
		return list, fmt.Errorf("negative %d index not allowed", index)
	}
	if index > maxIndex {
		return list, fmt.Errorf("index of %d is greater than maximum supported index of %d", index, maxIndex)
	}
	if len(list) <= index {
		grown := make([]interface{}, index+1)
		copy(grown, list)
		list = grown
	}
	list[index] = val
	return list, nil
}

func (p *parser) keyIndex() (int, error) {
	v, _, err := runesUntil(p.sc, "]")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(v))
}

// listItem reads what follows "name[i]": "=value", "[j]..." or ".name...".
func (p *parser) listItem(list []interface{}, i, level int) ([]interface{}, error) {
	if i < 0 {
		return list, fmt.Errorf("negative %d index not allowed", i)
	}
	k, last, err := runesUntil(p.sc, "[.=")
	switch {
	case len(k) > 0:
		// Helm formats the []rune itself: ['b']
		return list, fmt.Errorf("unexpected data at end of array index: %q", k)
	case err != nil:
		return list, err
	case last == '=':
		vl, err := p.valList()
		switch err {
		case nil:
			return setIndex(list, i, vl)
		case io.EOF:
			return setIndex(list, i, "")
		case errNotList:
			rs, err := p.val()
			if err != nil && err != io.EOF {
				return list, err
			}
			return setIndex(list, i, p.typed(rs))
		default:
			return list, err
		}
	case last == '[':
		next, err := p.keyIndex()
		if err != nil {
			return list, fmt.Errorf("error parsing index: %w", err)
		}
		var inner []interface{}
		if len(list) > i && list[i] != nil {
			inner = list[i].([]interface{})
		}
		inner, err = p.listItem(inner, next, level)
		if err != nil {
			return list, err
		}
		return setIndex(list, i, inner)
	default: // '.'
		inner := map[string]interface{}{}
		if len(list) > i {
			m, ok := list[i].(map[string]interface{})
			if !ok {
				m = map[string]interface{}{}
				list[i] = m
			}
			inner = m
		}
		if err := p.key(inner, level); err != nil {
			return list, err
		}
		return setIndex(list, i, inner)
	}
}

// val reads a plain value, up to the next unescaped comma.
func (p *parser) val() ([]rune, error) {
	v, _, err := runesUntil(p.sc, ",")
	return v, err
}

// valList reads "{a,b,c}"; errNotList when the value does not start with "{".
func (p *parser) valList() ([]interface{}, error) {
	r, _, err := p.sc.ReadRune()
	if err != nil {
		return []interface{}{}, err
	}
	if r != '{' {
		_ = p.sc.UnreadRune()
		return []interface{}{}, errNotList
	}
	list := []interface{}{}
	for {
		rs, last, err := runesUntil(p.sc, ",}")
		if err != nil {
			if err == io.EOF {
				err = errors.New("list must terminate with '}'")
			}
			return list, err
		}
		list = append(list, p.typed(rs))
		if last == '}' {
			if r, _, err := p.sc.ReadRune(); err == nil && r != ',' {
				_ = p.sc.UnreadRune()
			}
			return list, nil
		}
	}
}

// runesUntil reads up to the first unescaped rune of stop, which it consumes and returns.
func runesUntil(in io.RuneReader, stop string) ([]rune, rune, error) {
	v := []rune{}
	for {
		r, _, err := in.ReadRune()
		switch {
		case err != nil:
			return v, r, err
		case strings.ContainsRune(stop, r):
			return v, r, nil
		case r == '\\':
			next, _, err := in.ReadRune()
			if err != nil {
				return v, next, err
			}
			v = append(v, next)
		default:
			v = append(v, r)
		}
	}
}

// typed gives a --set value its type (Helm: typedVal).
func (p *parser) typed(rs []rune) interface{} {
	s := string(rs)
	if p.forceString {
		return s
	}
	switch {
	case strings.EqualFold(s, "true"):
		return true
	case strings.EqualFold(s, "false"):
		return false
	case strings.EqualFold(s, "null"):
		return nil
	case s == "0":
		return int64(0)
	}
	if s != "" && s[0] != '0' {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	return s
}
