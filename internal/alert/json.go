package alert

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/nightjar-sec/nightjar/internal/jsontext"
)

// AppendJSON appends the alert's JSON encoding to dst: the document
// encoding/json produces for Alert with HTML escaping off (package jsontext),
// output_fields keys sorted.
// It avoids reflection for the fixed fields and the common field value types,
// since outputs encode every alert.
func (a *Alert) AppendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"time":"`...)
	dst = a.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","rule":`...)
	dst = jsontext.AppendString(dst, a.Rule)
	dst = append(dst, `,"priority":`...)
	dst = jsontext.AppendString(dst, a.Priority.String())
	dst = append(dst, `,"source":`...)
	dst = jsontext.AppendString(dst, a.Source)
	dst = append(dst, `,"hostname":`...)
	dst = jsontext.AppendString(dst, a.Hostname)
	dst = append(dst, `,"tags":`...)
	if a.Tags == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, t := range a.Tags {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsontext.AppendString(dst, t)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"output":`...)
	dst = jsontext.AppendString(dst, a.Output)
	dst = append(dst, `,"output_fields":`...)
	if a.OutputFields == nil {
		dst = append(dst, "null"...)
	} else {
		keys := make([]string, 0, len(a.OutputFields))
		for k := range a.OutputFields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsontext.AppendString(dst, k)
			dst = append(dst, ':')
			var err error
			if dst, err = appendJSONValue(dst, a.OutputFields[k]); err != nil {
				return dst, fmt.Errorf("output field %q: %w", k, err)
			}
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"uuid":`...)
	dst = jsontext.AppendString(dst, a.UUID)
	return append(dst, '}'), nil
}

func appendJSONValue(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return jsontext.AppendString(dst, v), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), nil
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return dst, fmt.Errorf("unsupported float value %v", v)
		}
		return strconv.AppendFloat(dst, v, 'g', -1, 64), nil
	case []string:
		if v == nil {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		for i, s := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsontext.AppendString(dst, s)
		}
		return append(dst, ']'), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}
