package main

import (
	"fmt"
	"strconv"
)

// sizeFlag is a positive byte count given as GOMEMLIMIT writes one
// ("16MiB").
type sizeFlag int64

func (f *sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	if n <= 0 {
		return fmt.Errorf("%q: want a positive size", s)
	}
	*f = sizeFlag(n)
	return nil
}

// String prints the size in the largest unit that divides it.
func (f *sizeFlag) String() string {
	n := int64(*f)
	for _, u := range sizeUnits {
		if n != 0 && n%u.factor == 0 {
			return strconv.FormatInt(n/u.factor, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
