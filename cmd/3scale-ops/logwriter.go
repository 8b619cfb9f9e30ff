package main

import "bytes"

// logWriter turns a remote command's output into log lines (redacted by
// the logger), so stdout stays free for the command's result.
type logWriter struct {
	g      *globals
	prefix string
	buf    bytes.Buffer
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			break
		}
		w.g.Log.Info(w.prefix + string(bytes.TrimRight([]byte(line), "\r\n")))
	}
	return len(p), nil
}

// Flush logs what is left without a newline.
func (w *logWriter) Flush() {
	if w.buf.Len() > 0 {
		w.g.Log.Info(w.prefix + w.buf.String())
		w.buf.Reset()
	}
}
