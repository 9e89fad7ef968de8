package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// protojsonPrefix and protojsonPosition match the "proto: " prefix and the
// "(line L:C): " position of protojson errors. protobuf-go varies the spaces
// in its messages (ASCII or U+00A0) on purpose, so the patterns accept either.
var (
	protojsonPrefix   = regexp.MustCompile(`^proto:[\s\x{00a0}]*`)
	protojsonPosition = regexp.MustCompile(`[\s\x{00a0}]*\(line (\d+):(\d+)\):?`)
)

// specError turns a protojson error into a ConfigError whose field is the
// JSON path the error points at, prefixed with "spec".
func specError(src Source, key Key, spec []byte, err error) *ConfigError {
	msg := protojsonPrefix.ReplaceAllString(err.Error(), "")
	field := "spec"
	if m := protojsonPosition.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		field = joinField("spec", jsonPathAt(spec, byteOffset(spec, line, col)))
		msg = strings.Replace(msg, m[0], ":", 1)
		msg = strings.TrimPrefix(msg, ":")
	}
	msg = strings.TrimSpace(strings.ReplaceAll(msg, "\u00a0", " "))
	return &ConfigError{Source: src, Key: key, Field: field, Msg: msg}
}

// byteOffset converts a 1-based line and rune column into a byte offset.
func byteOffset(data []byte, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return len(data)
		}
		off += i + 1
	}
	for c := 1; c < col && off < len(data); c++ {
		_, size := utf8.DecodeRune(data[off:])
		off += size
	}
	return off
}

// pathFrame is one open JSON object or array while walking a document.
type pathFrame struct {
	array   bool
	index   int
	key     string
	haveKey bool
}

// jsonPathAt returns the path ("http[0].route[1].weight") of the key or value
// that spans byte offset target in js, or "" when the walk cannot tell.
func jsonPathAt(js []byte, target int) string {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var stack []*pathFrame
	for {
		tok, err := dec.Token()
		if err != nil {
			return framesPath(stack)
		}
		past := dec.InputOffset() > int64(target)
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				startValue(stack)
				if past {
					return framesPath(stack)
				}
				stack = append(stack, &pathFrame{array: t == '[', index: -1})
				continue
			}
			stack = stack[:len(stack)-1]
			endValue(stack)
		default:
			if top := topFrame(stack); isKey(top, tok) {
				top.key, top.haveKey = tok.(string), true
				if past {
					return framesPath(stack)
				}
				continue
			}
			startValue(stack)
			if past {
				return framesPath(stack)
			}
			endValue(stack)
		}
	}
}

// isKey reports whether tok, read inside frame top, is an object key.
func isKey(top *pathFrame, tok json.Token) bool {
	_, isString := tok.(string)
	return isString && top != nil && !top.array && !top.haveKey
}

func topFrame(stack []*pathFrame) *pathFrame {
	if len(stack) == 0 {
		return nil
	}
	return stack[len(stack)-1]
}

func startValue(stack []*pathFrame) {
	if top := topFrame(stack); top != nil && top.array {
		top.index++
	}
}

func endValue(stack []*pathFrame) {
	if top := topFrame(stack); top != nil && !top.array {
		top.haveKey = false
	}
}

func framesPath(stack []*pathFrame) string {
	var b strings.Builder
	for _, f := range stack {
		switch {
		case f.array && f.index >= 0:
			fmt.Fprintf(&b, "[%d]", f.index)
		case !f.array && f.haveKey:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		}
	}
	return b.String()
}

// jsonErrorField names the field an encoding/json error is about, if any.
func jsonErrorField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field
	}
	return ""
}

// jsonErrorMsg describes an encoding/json error without Go type names.
func jsonErrorMsg(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return "a document must be a mapping (found " + te.Value + ")"
		}
		return fmt.Sprintf("field %s: a JSON %s is not allowed here", te.Field, te.Value)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of document"
	}
	return err.Error()
}
