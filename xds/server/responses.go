package server

// typeList is the resources of t; none when the proxy has no such type.
func typeList(t *typeResources) []*preparedResource {
	if t == nil {
		return nil
	}
	return t.list
}
