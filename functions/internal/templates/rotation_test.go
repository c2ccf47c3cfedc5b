package templates

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSAMRotation checks what rotation needs of template.yaml: Secrets Manager may invoke the
// function (for this account only); the role may make exactly the protocol's four calls, on the
// rotated secrets only; the example schedule points at the function behind its parameter; and
// a metric filter on the failure field feeds an alarm.
func TestSAMRotation(t *testing.T) {
	tmpl := readYAML(t, "template.yaml")
	res := func(id string) map[string]any {
		n := path(tmpl, "Resources", id)
		if n == nil {
			t.Fatalf("no resource %s", id)
		}
		var m map[string]any
		if err := n.Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	perm := res("RotatePasswordPermission")
	if perm["Type"] != "AWS::Lambda::Permission" || prop2(perm, "Principal") != "secretsmanager.amazonaws.com" ||
		prop2(perm, "Action") != "lambda:InvokeFunction" {
		t.Errorf("RotatePasswordPermission: %v", perm)
	}
	if n := path(tmpl, "Resources", "RotatePasswordPermission", "Properties", "SourceAccount"); n == nil || n.Value != "AWS::AccountId" {
		t.Error("RotatePasswordPermission: want SourceAccount !Ref AWS::AccountId, so no other account's secret can invoke it")
	}
	sched := path(tmpl, "Resources", "RotationScheduleExample")
	if child(sched, "Type").Value != "AWS::SecretsManager::RotationSchedule" || child(sched, "Condition").Value != "HasRotationSchedule" ||
		path(sched, "Properties", "RotationRules", "ScheduleExpression").Value != "RotationSchedule" ||
		!strings.HasPrefix(path(sched, "Properties", "RotationLambdaARN").Value, "RotatePasswordFunction.") {
		t.Error("RotationScheduleExample: want a RotationSchedule behind HasRotationSchedule, on RotatePasswordFunction, with ScheduleExpression !Ref RotationSchedule")
	}
	// The role: the four calls on RotatedSecretArns, and reading the directory password.
	var rotate []string
	for _, pol := range path(tmpl, "Resources", "RotatePasswordRole", "Properties", "Policies").Content {
		if pol.Tag == "!If" {
			continue // the events policy, on the event bus only (TestSAMConfiguration)
		}
		for _, st := range path(pol, "PolicyDocument", "Statement").Content {
			r := child(st, "Resource")
			if r == nil || r.Value != "RotatedSecretArns" {
				continue
			}
			for _, a := range child(st, "Action").Content {
				rotate = append(rotate, a.Value)
			}
		}
	}
	slices.Sort(rotate)
	want := []string{"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"}
	if !slices.Equal(rotate, want) {
		t.Errorf("the role may %v on the rotated secrets, want exactly %v", rotate, want)
	}
	mf := path(tmpl, "Resources", "RotationFailureMetricFilter", "Properties")
	if mf == nil || child(mf, "FilterPattern").Value != `{ $.rotation_outcome = "failed" }` || child(mf, "LogGroupName").Value != "RotatePasswordLogGroup" {
		t.Error(`RotationFailureMetricFilter: want { $.rotation_outcome = "failed" } on the rotate-password log group`)
	}
	metric := path(mf, "MetricTransformations").Content[0]
	alarm := path(tmpl, "Resources", "RotationFailureAlarm", "Properties")
	if alarm == nil || child(alarm, "MetricName").Value != child(metric, "MetricName").Value || child(alarm, "Namespace").Value != child(metric, "MetricNamespace").Value {
		t.Error("RotationFailureAlarm: want an alarm on the metric filter's metric")
	}
}

func prop2(m map[string]any, k string) any {
	p, _ := m["Properties"].(map[string]any)
	return p[k]
}

// TestRotationEvents checks the non-HTTP sample events of events/rotate-password: Secrets
// Manager's four steps and an FC timer, each well formed.
func TestRotationEvents(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "events", "rotate-password", "*.json"))
	steps := map[string]bool{}
	timer := false
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ev map[string]any
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		switch name := filepath.Base(f); {
		case strings.HasPrefix(name, "rotation-"):
			if ev["SecretId"] == "" || ev["ClientRequestToken"] == "" {
				t.Errorf("%s: want SecretId and ClientRequestToken", name)
			}
			steps[ev["Step"].(string)] = true
		case strings.HasPrefix(name, "fc-timer"):
			timer = ev["triggerTime"] != nil && ev["triggerName"] != nil
		default:
			t.Errorf("%s: neither a rotation- nor an fc-timer event", name)
		}
	}
	if len(steps) != 4 || !timer {
		t.Errorf("events/rotate-password has steps %v and a timer %v: want all four steps and a timer", steps, timer)
	}
}
