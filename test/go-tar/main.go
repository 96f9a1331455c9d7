// Lists a tar archive as Go's archive/tar reads it (the reader docker load and the
// builders use), one JSON object: the entries with their fields and the sha256 of their
// data as read back (a sparse file expanded), and the error that stopped the read, if any.
// The layer-tar tests compare the tool's rootfs.tar against this reading.
package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"sort"
)

type entry struct {
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Mode     int64             `json:"mode"`
	UID      int               `json:"uid"`
	GID      int               `json:"gid"`
	Size     int64             `json:"size"`
	Mtime    int64             `json:"mtime"`
	Linkname string            `json:"linkname"`
	Uname    string            `json:"uname"`
	Gname    string            `json:"gname"`
	Devmajor int64             `json:"devmajor"`
	Devminor int64             `json:"devminor"`
	Sha256   string            `json:"sha256"`
	Xattrs   map[string]string `json:"xattrs"`
}

type listing struct {
	Entries []entry `json:"entries"`
	Error   string  `json:"error,omitempty"`
}

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil {
		panic(err)
	}
	// With --headers-only the data is not read (a 60 GB sparse file would take minutes to hash).
	headersOnly := len(os.Args) > 2 && os.Args[2] == "--headers-only"
	out := listing{Entries: []entry{}}
	r := tar.NewReader(f)
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			out.Error = err.Error()
			break
		}
		sum := sha256.New()
		if !headersOnly {
			if _, err := io.Copy(sum, r); err != nil {
				out.Error = err.Error()
				break
			}
		}
		xattrs := map[string]string{}
		keys := make([]string, 0, len(h.PAXRecords))
		for k := range h.PAXRecords {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if len(k) > 13 && k[:13] == "SCHILY.xattr." {
				xattrs[k] = h.PAXRecords[k]
			}
		}
		out.Entries = append(out.Entries, entry{
			Name: h.Name, Type: string([]byte{h.Typeflag}), Mode: h.Mode & 07777, UID: h.Uid, GID: h.Gid,
			Size: h.Size, Mtime: h.ModTime.Unix(), Linkname: h.Linkname, Uname: h.Uname, Gname: h.Gname,
			Devmajor: h.Devmajor, Devminor: h.Devminor, Sha256: hex.EncodeToString(sum.Sum(nil)), Xattrs: xattrs,
		})
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}
