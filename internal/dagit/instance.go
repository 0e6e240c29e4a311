package dagit

import "context"

// Instance is what Dagit says about the Dagster instance.
type Instance struct {
	// Info is the instance config as YAML; empty when Dagit hides it.
	Info        string
	RunLauncher string
}

// Instance reads the instance description.
func (c *Client) Instance(ctx context.Context) (Instance, error) {
	var out struct {
		I struct {
			Info        *string `json:"info"`
			RunLauncher *struct {
				Name string `json:"name"`
			} `json:"runLauncher"`
		} `json:"instance"`
	}
	if err := c.do(ctx, "instance", queryInstance, nil, &out); err != nil {
		return Instance{}, err
	}
	var inst Instance
	if out.I.Info != nil {
		inst.Info = *out.I.Info
	}
	if out.I.RunLauncher != nil {
		inst.RunLauncher = out.I.RunLauncher.Name
	}
	return inst, nil
}
