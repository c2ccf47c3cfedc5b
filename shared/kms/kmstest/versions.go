package kmstest

import (
	"encoding/json"
	"net/http"
	"slices"
)

// Stages KMS manages; ACSPending is the custom stage rotation uses.
const (
	Current  = "ACSCurrent"
	Previous = "ACSPrevious"
)

// actions are the KMS actions the fake serves.
var actions = map[string]bool{"GetSecretValue": true, "ListSecretVersionIds": true, "PutSecretValue": true, "UpdateSecretVersionStage": true}

// maxVersions is how many versions a generic secret keeps; KMS deletes the earliest beyond it.
const maxVersions = 10

type secretState struct{ versions []*version }

type version struct {
	id, data string
	stages   []string
}

// AddSecret creates a generic secret holding data as version id, staged ACSCurrent.
func (s *Server) AddSecret(name, id, data string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state[name] = &secretState{versions: []*version{{id: id, data: data, stages: []string{Current}}}}
}

// Throttle makes the next n requests answer Throttling.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// Calls returns how many well-signed requests of action arrived.
func (s *Server) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

// Versions returns name's versions: id -> sorted stages, and id -> data.
func (s *Server) Versions(name string) (stages map[string][]string, data map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stages, data = map[string][]string{}, map[string]string{}
	for _, v := range s.state[name].versions {
		l := slices.Clone(v.stages)
		slices.Sort(l)
		stages[v.id], data[v.id] = l, v.data
	}
	return stages, data
}

func (st *secretState) find(id string) *version {
	for _, v := range st.versions {
		if v.id == id {
			return v
		}
	}
	return nil
}

func (st *secretState) staged(stage string) *version {
	for _, v := range st.versions {
		if slices.Contains(v.stages, stage) {
			return v
		}
	}
	return nil
}

func drop(v *version, stage string) {
	v.stages = slices.DeleteFunc(v.stages, func(s string) bool { return s == stage })
}

// attach moves stage to v; ACSCurrent moves ACSPrevious to the version it leaves.
func (st *secretState) attach(stage string, v *version) {
	old := st.staged(stage)
	if old == v {
		return
	}
	if old != nil {
		drop(old, stage)
	}
	v.stages = append(v.stages, stage)
	if stage == Current && old != nil {
		if p := st.staged(Previous); p != nil {
			drop(p, Previous)
		}
		old.stages = append(old.stages, Previous)
	}
}

func (s *Server) ok(w http.ResponseWriter, out map[string]any) {
	out["RequestId"] = RequestID
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	json.NewEncoder(w).Encode(out)
}

// serveVersions answers the four actions on a secret made with AddSecret. s.mu is held.
func (s *Server) serveVersions(w http.ResponseWriter, p map[string]string, st *secretState) {
	name := p["SecretName"]
	if st == nil {
		s.fail(w, http.StatusNotFound, "Forbidden.ResourceNotFound", "The resource not exists.")
		return
	}
	switch p["Action"] {
	case "GetSecretValue":
		var v *version
		switch {
		case p["VersionId"] != "":
			v = st.find(p["VersionId"])
			if v != nil && p["VersionStage"] != "" && !slices.Contains(v.stages, p["VersionStage"]) {
				v = nil
			}
		default:
			stage := p["VersionStage"]
			if stage == "" {
				stage = Current
			}
			v = st.staged(stage)
		}
		if v == nil {
			s.fail(w, http.StatusNotFound, "Forbidden.ResourceNotFound", "The resource not exists.")
			return
		}
		s.ok(w, map[string]any{"SecretName": name, "SecretData": v.data, "SecretDataType": "text", "VersionId": v.id,
			"CreateTime": "2024-07-05T08:22:03Z", "SecretType": "Generic", "VersionStages": map[string][]string{"VersionStage": v.stages}})
	case "ListSecretVersionIds":
		var ids []map[string]any
		for _, v := range st.versions {
			if len(v.stages) == 0 && p["IncludeDeprecated"] != "true" {
				continue
			}
			ids = append(ids, map[string]any{"VersionId": v.id, "CreateTime": "2024-07-05T08:22:03Z",
				"VersionStages": map[string][]string{"VersionStage": v.stages}})
		}
		s.ok(w, map[string]any{"SecretName": name, "PageNumber": 1, "PageSize": len(ids), "TotalCount": len(ids),
			"VersionIds": map[string]any{"VersionId": ids}})
	case "PutSecretValue":
		id := p["VersionId"]
		if id == "" || p["SecretData"] == "" {
			s.fail(w, http.StatusBadRequest, "MissingParameter", "VersionId and SecretData are required.")
			return
		}
		stages := []string{Current}
		if p["VersionStages"] != "" {
			if err := json.Unmarshal([]byte(p["VersionStages"]), &stages); err != nil {
				s.fail(w, http.StatusBadRequest, "InvalidParameter", "VersionStages is not a JSON array of strings.")
				return
			}
		}
		if v := st.find(id); v != nil {
			if v.data != p["SecretData"] {
				s.fail(w, http.StatusBadRequest, "Rejected.ResourceExist", "The resource already exists.")
				return
			}
		} else {
			v = &version{id: id, data: p["SecretData"]}
			st.versions = append(st.versions, v)
			for _, stage := range stages {
				st.attach(stage, v)
			}
			if len(st.versions) > maxVersions {
				st.versions = st.versions[1:]
			}
		}
		s.ok(w, map[string]any{"SecretName": name, "VersionId": id, "VersionStages": map[string][]string{"VersionStage": stages}})
	case "UpdateSecretVersionStage":
		stage, from, to := p["VersionStage"], p["RemoveFromVersion"], p["MoveToVersion"]
		var target *version
		if to != "" {
			if target = st.find(to); target == nil {
				s.fail(w, http.StatusNotFound, "Forbidden.ResourceNotFound", "The resource not exists.")
				return
			}
		}
		holder := st.staged(stage)
		switch {
		case from == "" && to == "":
			s.fail(w, http.StatusBadRequest, "MissingParameter", "RemoveFromVersion or MoveToVersion is required.")
			return
		case (stage == Current || stage == Previous) && to == "":
			s.fail(w, http.StatusBadRequest, "InvalidParameter", "ACSCurrent and ACSPrevious can only be moved to another version.")
			return
		case from != "" && (holder == nil || holder.id != from):
			s.fail(w, http.StatusBadRequest, "Rejected.ValidationFailed", "The version stage is not attached to RemoveFromVersion.")
			return
		case from == "" && holder != nil && holder != target:
			s.fail(w, http.StatusBadRequest, "Rejected.ValidationFailed", "The version stage is attached to another version: name it in RemoveFromVersion.")
			return
		}
		if target == nil {
			drop(holder, stage)
		} else {
			st.attach(stage, target)
		}
		s.ok(w, map[string]any{"SecretName": name})
	}
}
