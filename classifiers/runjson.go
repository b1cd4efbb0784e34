package classifiers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/motesvakt/motesvakt/locales"
)

// ErrorBody is the JSON error shape shared with the HTTP API:
// {"error":{"code":"…","message":"…"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inner object of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// RunJSON is the CLI's classify loop.
//
// Single mode: reads one JSON event (at most MaxEventBytes) and writes one
// indented result. Bad input returns an *InputError (use Describe for the
// localized message) and writes nothing; failed is then 1.
//
// Batch mode: JSON Lines in and out, one output line per input line, in
// order. A bad line (invalid JSON or UTF-8, a line over MaxEventBytes,
// limits) yields {"error":{"code","message"}} on its line and counts in
// failed; the rest continue. err is only an I/O error.
func RunJSON(in io.Reader, out io.Writer, eng *Engine, lang locales.Lang, batch bool) (failed int, err error) {
	if !batch {
		data, err := io.ReadAll(io.LimitReader(in, MaxEventBytes+1))
		if err != nil {
			return 0, fmt.Errorf("classify: read input: %w", err)
		}
		ev, err := DecodeEvent(data)
		if err != nil {
			return 1, err
		}
		res, err := eng.Classify(ev, lang)
		if err != nil {
			return 1, err
		}
		buf, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return 1, fmt.Errorf("classify: encode result: %w", err)
		}
		buf = append(buf, '\n')
		if _, err := out.Write(buf); err != nil {
			return 0, fmt.Errorf("classify: write result: %w", err)
		}
		return 0, nil
	}

	r := bufio.NewReaderSize(in, 64<<10)
	w := bufio.NewWriter(out)
	var line []byte
	for {
		line = line[:0]
		tooLong, eof := false, false
		for {
			chunk, err := r.ReadSlice('\n')
			if len(line)+len(chunk) > MaxEventBytes+1 {
				tooLong = true // keep reading to the end of the line, drop it
			} else {
				line = append(line, chunk...)
			}
			if err == nil {
				break
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err == io.EOF {
				eof = true
				break
			}
			return failed, fmt.Errorf("classify: read input: %w", err)
		}
		if eof && len(line) == 0 && !tooLong {
			break
		}
		var outLine []byte
		var lineErr error
		if tooLong {
			lineErr = inputErr(CodeTooLarge, "", MaxEventBytes)
		} else {
			ev, err := DecodeEvent(bytes.TrimRight(line, "\r\n"))
			if err == nil {
				var res Result
				if res, err = eng.Classify(ev, lang); err == nil {
					outLine, err = json.Marshal(res)
				}
			}
			lineErr = err
		}
		if lineErr != nil {
			failed++
			code, msg := Describe(lineErr, lang)
			outLine, _ = json.Marshal(ErrorBody{Error: ErrorDetail{Code: code, Message: msg}})
		}
		outLine = append(outLine, '\n')
		if _, err := w.Write(outLine); err != nil {
			return failed, fmt.Errorf("classify: write result: %w", err)
		}
		if eof {
			break
		}
	}
	if err := w.Flush(); err != nil {
		return failed, fmt.Errorf("classify: write result: %w", err)
	}
	return failed, nil
}
