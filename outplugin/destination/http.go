package destination

import "net/http"

// HTTPClient returns the client of a destination speaking HTTP: the tls
// block's settings (nil for the defaults), idle connections kept for
// concurrency requests in flight, and redirects returned as answers
// rather than followed, since following one would post the records, and
// any credentials in the headers, to a place nobody configured.
func HTTPClient(t *TLS, concurrency int) (*http.Client, error) {
	tc, err := t.ClientConfig("")
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2 * concurrency
	tr.TLSClientConfig = tc
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}
