package secretsmanagertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Staging labels Secrets Manager manages.
const (
	Current  = "AWSCURRENT"
	Pending  = "AWSPENDING"
	Previous = "AWSPREVIOUS"
)

// operations are the X-Amz-Target operations the fake serves.
var operations = map[string]bool{"GetSecretValue": true, "DescribeSecret": true, "PutSecretValue": true, "UpdateSecretVersionStage": true}

// AddSecret creates arn holding value as its one version, versionID, staged AWSCURRENT, with
// rotation enabled or not.
func (s *Server) AddSecret(arn, versionID, value string, rotation bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state[arn] = &secretState{rotation: rotation, versions: []*version{{id: versionID, value: &value, stages: []string{Current}}}}
}

// StartRotation does what RotateSecret does before it calls the rotation function: it creates
// version token with no value, staged AWSPENDING (taking the label from any other version).
func (s *Server) StartRotation(arn, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state[arn]
	for _, v := range st.versions {
		v.stages = slices.DeleteFunc(v.stages, func(l string) bool { return l == Pending })
	}
	if st.find(token) == nil {
		st.versions = append(st.versions, &version{id: token, stages: []string{Pending}})
	}
}

// EndRotation does what the service does after finishSecret succeeded: it removes AWSPENDING
// from the version that is now current.
func (s *Server) EndRotation(arn, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.state[arn].find(token); v != nil && slices.Contains(v.stages, Current) {
		v.stages = slices.DeleteFunc(v.stages, func(l string) bool { return l == Pending })
	}
}

// Throttle makes the next n requests answer ThrottlingException.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// Calls returns how many well-signed requests of operation op arrived.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Versions returns arn's versions: id -> sorted labels; and id -> value ("" with no value).
func (s *Server) Versions(arn string) (stages map[string][]string, values map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stages, values = map[string][]string{}, map[string]string{}
	for _, v := range s.state[arn].versions {
		l := slices.Clone(v.stages)
		slices.Sort(l)
		stages[v.id] = l
		if v.value != nil {
			values[v.id] = *v.value
		}
	}
	return stages, values
}

func (st *secretState) find(id string) *version {
	for _, v := range st.versions {
		if v.id == id {
			return v
		}
	}
	return nil
}

func (st *secretState) staged(label string) *version {
	for _, v := range st.versions {
		if slices.Contains(v.stages, label) {
			return v
		}
	}
	return nil
}

// attach moves label to v, from whichever version holds it; AWSCURRENT moves AWSPREVIOUS to the
// version it leaves.
func (st *secretState) attach(label string, v *version) {
	old := st.staged(label)
	if old == v {
		return
	}
	if old != nil {
		old.stages = slices.DeleteFunc(old.stages, func(l string) bool { return l == label })
	}
	v.stages = append(v.stages, label)
	if label == Current && old != nil {
		if p := st.staged(Previous); p != nil {
			p.stages = slices.DeleteFunc(p.stages, func(l string) bool { return l == Previous })
		}
		old.stages = append(old.stages, Previous)
	}
}

func (s *Server) answer(w http.ResponseWriter, out any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "6b2f3c2e-0000-4000-8000-000000000002")
	json.NewEncoder(w).Encode(out)
}

// serveVersions answers the four operations on a versioned secret. s.mu is held.
func (s *Server) serveVersions(w http.ResponseWriter, op, arn string, body []byte) {
	var in struct {
		SecretId, VersionId, VersionStage, ClientRequestToken, SecretString string
		RemoveFromVersionId, MoveToVersionId                                string
		VersionStages                                                       []string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		s.fail(w, http.StatusBadRequest, "SerializationException", "")
		return
	}
	st := s.state[arn]
	if st == nil {
		s.fail(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	name := arn[strings.LastIndex(arn, ":")+1:]
	switch op {
	case "GetSecretValue":
		var v *version
		switch {
		case in.VersionId != "":
			v = st.find(in.VersionId)
			if v != nil && in.VersionStage != "" && !slices.Contains(v.stages, in.VersionStage) {
				v = nil
			}
		default:
			label := in.VersionStage
			if label == "" {
				label = Current
			}
			v = st.staged(label)
		}
		if v == nil || v.value == nil {
			s.fail(w, http.StatusBadRequest, "ResourceNotFoundException",
				fmt.Sprintf("Secrets Manager can't find the specified secret value for VersionId: %s, staging label: %s", in.VersionId, in.VersionStage))
			return
		}
		s.answer(w, map[string]any{"ARN": arn, "Name": name, "VersionId": v.id, "VersionStages": v.stages,
			"SecretString": *v.value, "CreatedDate": 1.523477145713e9})
	case "DescribeSecret":
		m := map[string][]string{}
		for _, v := range st.versions {
			m[v.id] = v.stages
		}
		s.answer(w, map[string]any{"ARN": arn, "Name": name, "RotationEnabled": st.rotation, "VersionIdsToStages": m})
	case "PutSecretValue":
		if in.ClientRequestToken == "" || len(in.ClientRequestToken) < 32 {
			s.fail(w, http.StatusBadRequest, "InvalidParameterException", "ClientRequestToken must be 32 to 64 characters.")
			return
		}
		labels := in.VersionStages
		if len(labels) == 0 {
			labels = []string{Current}
		}
		v := st.find(in.ClientRequestToken)
		switch {
		case v != nil && v.value != nil && *v.value == in.SecretString:
			// The same request again: idempotent.
		case v != nil && v.value != nil:
			s.fail(w, http.StatusBadRequest, "ResourceExistsException", "You can't modify an existing version, you can only create a new version.")
			return
		case v != nil:
			val := in.SecretString
			v.value = &val
		default:
			val := in.SecretString
			v = &version{id: in.ClientRequestToken, value: &val}
			st.versions = append(st.versions, v)
		}
		for _, l := range labels {
			st.attach(l, v)
		}
		s.answer(w, map[string]any{"ARN": arn, "Name": name, "VersionId": v.id, "VersionStages": v.stages})
	case "UpdateSecretVersionStage":
		holder := st.staged(in.VersionStage)
		var target *version
		if in.MoveToVersionId != "" {
			if target = st.find(in.MoveToVersionId); target == nil {
				s.fail(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret version.")
				return
			}
		}
		if holder != nil && holder != target && holder.id != in.RemoveFromVersionId {
			s.fail(w, http.StatusBadRequest, "InvalidParameterException",
				fmt.Sprintf("The parameter RemoveFromVersionId doesn't match the version the staging label %s is currently attached to.", in.VersionStage))
			return
		}
		if in.RemoveFromVersionId != "" && (holder == nil || holder.id != in.RemoveFromVersionId) {
			s.fail(w, http.StatusBadRequest, "InvalidParameterException",
				fmt.Sprintf("The staging label %s is not attached to version %s.", in.VersionStage, in.RemoveFromVersionId))
			return
		}
		if target == nil {
			if in.VersionStage == Current {
				s.fail(w, http.StatusBadRequest, "InvalidParameterException", "You can't remove AWSCURRENT; move it to another version instead.")
				return
			}
			holder.stages = slices.DeleteFunc(holder.stages, func(l string) bool { return l == in.VersionStage })
		} else {
			st.attach(in.VersionStage, target)
		}
		s.answer(w, map[string]any{"ARN": arn, "Name": name})
	}
}
