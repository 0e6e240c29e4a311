package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// The ownership record lives in a file inside the control-plane node
// container, not in a Kubernetes object: it is written and read with the
// Docker API (CopyToContainer/CopyFromContainer), which works while the node
// is stopped or its API server is broken. `dagster-dev down` must be able to
// delete exactly those clusters, and a cluster that fails to come up is the
// one a user most needs to delete.
const (
	ownerDir      = "/kind" // exists in every kind node image (/kind/version)
	ownerFile     = "dagster-dev.json"
	ownerCreator  = "dagster-dev"
	ownerFileMode = 0o644
)

// ownerRecord is the content of the ownership file.
type ownerRecord struct {
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
	Spec      Spec      `json:"spec"`
}

func writeOwner(ctx context.Context, dc DockerClient, containerID string, rec ownerRecord) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{
		Name:    ownerFile,
		Mode:    ownerFileMode,
		Size:    int64(len(data)),
		ModTime: rec.CreatedAt,
	}); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := dc.CopyToContainer(ctx, containerID, ownerDir, &buf, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("write ownership record %s: %w", path.Join(ownerDir, ownerFile), err)
	}
	return nil
}

// readOwner returns the ownership record, or nil if the node has none (a
// cluster created by something else). Any other failure is an error: an
// unreadable record must not be mistaken for "not ours" or for "ours".
func readOwner(ctx context.Context, dc DockerClient, containerID string) (*ownerRecord, error) {
	rc, _, err := dc.CopyFromContainer(ctx, containerID, path.Join(ownerDir, ownerFile))
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read ownership record: %w", err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read ownership record: %w", err)
		}
		if path.Base(h.Name) != ownerFile || h.Typeflag != tar.TypeReg {
			continue
		}
		var rec ownerRecord
		if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&rec); err != nil {
			return nil, fmt.Errorf("parse ownership record %s: %w", path.Join(ownerDir, ownerFile), err)
		}
		if rec.CreatedBy != ownerCreator {
			return nil, nil
		}
		return &rec, nil
	}
}
