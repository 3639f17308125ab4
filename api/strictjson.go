package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// strictReader reads a write request's JSON body token by token, so that
// everything encoding/json lets pass or reports without a position is
// named by its path ("[3].occurred_at", "articles[1].price"): unknown
// fields, duplicate keys, wrong types, trailing data. Field problems are
// collected in bad and reading goes on, so one answer names every bad
// item; malformed JSON, an unreadable body or one too large stops reading
// with the *Problem returned.
type strictReader struct {
	dec *json.Decoder
	bad []InvalidParam
}

func newStrictReader(body io.Reader) *strictReader {
	dec := json.NewDecoder(body)
	dec.UseNumber() // numbers keep their text: a price is parsed exactly
	return &strictReader{dec: dec}
}

func (r *strictReader) fail(name, reason string) {
	r.bad = append(r.bad, InvalidParam{Name: name, Reason: reason})
}

// token is the next token; a read or syntax error is the request's end.
func (r *strictReader) token() (json.Token, error) {
	t, err := r.dec.Token()
	if err != nil {
		return nil, r.bodyError(err)
	}
	return t, nil
}

func (r *strictReader) bodyError(err error) error {
	var se *json.SyntaxError
	switch {
	case isTooLarge(err):
		return problem(http.StatusRequestEntityTooLarge, bodyTooLarge)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return invalid(InvalidParam{Name: "body", Reason: "malformed JSON: ends early"})
	case errors.As(err, &se):
		return invalid(InvalidParam{Name: "body", Reason: "malformed JSON: " + se.Error() + " at byte " + strconv.FormatInt(se.Offset, 10)})
	}
	return invalid(InvalidParam{Name: "body", Reason: "could not be read"})
}

// skipAfter consumes the rest of a value whose first token was t.
func (r *strictReader) skipAfter(t json.Token) error {
	d, ok := t.(json.Delim)
	if !ok || d == '}' || d == ']' {
		return nil
	}
	for depth := 1; depth > 0; {
		t, err := r.token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

// wrongType records that the value at name is not what it must be, and
// skips it.
func (r *strictReader) wrongType(name, want string, t json.Token) error {
	r.fail(name, "must be "+want)
	return r.skipAfter(t)
}

// object reads an object at name, handing each member to member, which
// must read the value and returns false for a key the object does not
// have. ok is false when the value was not an object (recorded in bad).
func (r *strictReader) object(name string, member func(key, name string) (known bool, err error)) (ok bool, err error) {
	t, err := r.token()
	if err != nil {
		return false, err
	}
	return r.objectFrom(t, name, member)
}

// objectFrom is object when its first token, t, is already read.
func (r *strictReader) objectFrom(t json.Token, name string, member func(key, name string) (known bool, err error)) (ok bool, err error) {
	if t != json.Delim('{') {
		return false, r.wrongType(orBody(name), "an object", t)
	}
	seen := make(map[string]bool, 8)
	for r.dec.More() {
		kt, err := r.token()
		if err != nil {
			return false, err
		}
		key, _ := kt.(string) // inside an object the decoder only yields string keys
		n := joinName(name, key)
		if seen[key] {
			r.fail(n, "appears twice in the object")
			if err := r.skip(); err != nil {
				return false, err
			}
			continue
		}
		seen[key] = true
		known, err := member(key, n)
		if err != nil {
			return false, err
		}
		if !known {
			r.fail(n, "is not a field of this object")
			if err := r.skip(); err != nil {
				return false, err
			}
		}
	}
	_, err = r.token() // '}'
	return true, err
}

// skip consumes one whole value.
func (r *strictReader) skip() error {
	t, err := r.token()
	if err != nil {
		return err
	}
	return r.skipAfter(t)
}

// str reads a string (null or absent leaves dst as it is: "").
func (r *strictReader) str(name string, dst *string) error {
	t, err := r.token()
	if err != nil {
		return err
	}
	switch v := t.(type) {
	case nil:
	case string:
		*dst = v
	default:
		return r.wrongType(name, "a string", t)
	}
	return nil
}

// end checks that nothing but white space follows the value read.
func (r *strictReader) end() error {
	_, err := r.dec.Token()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil && isTooLarge(err) {
		return r.bodyError(err)
	}
	return invalid(InvalidParam{Name: "body", Reason: "unexpected data after the JSON value; send one JSON value"})
}

func joinName(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func orBody(name string) string {
	if name == "" {
		return "body"
	}
	return name
}

func indexName(prefix string, i int) string {
	return prefix + "[" + strconv.Itoa(i) + "]"
}

// reasonList is "a, b or c" for a reason naming the allowed values.
func reasonList(vs []string) string {
	if len(vs) < 2 {
		return strings.Join(vs, "")
	}
	return strings.Join(vs[:len(vs)-1], ", ") + " or " + vs[len(vs)-1]
}
