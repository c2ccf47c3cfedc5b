// Package templates holds the tests that keep template.yaml (AWS SAM) and s.yaml
// (Serverless Devs, fc3) true to the functions they deploy: the runtimes and
// handlers, the build targets, the routes every sample event takes, the memory
// and trigger rules each platform enforces, and the configuration each function
// gets, whose secrets must be references to the cloud's secret service.
package templates
