//go:build !linux

package localmesh

import "errors"

// AddLoopbackAddress needs Linux's ip command.
func AddLoopbackAddress(ip string) (remove func() error, err error) {
	return nil, errors.New("adding a loopback address needs Linux")
}
