package templates

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// egressDecl is a function's egress.yaml: the cloud APIs each cloud's build calls.
type egressDecl struct {
	AWS []egressAPI `yaml:"aws"`
	FC  []egressAPI `yaml:"fc"`
}

type egressAPI struct {
	API string `yaml:"api"`
	Why string `yaml:"why"`
}

// egressBuild is one of the Makefile's builds: where it deploys, and how the SDK
// packages it may link name the cloud API they call.
type egressBuild struct {
	cloud, goos, goarch, tagsVar string
	sdk                          []*regexp.Regexp // packages that call a cloud API: an SDK client or chpass's own signed call; the first group names the API
}

var egressBuilds = []egressBuild{
	{cloud: "aws", goos: "linux", goarch: "arm64", tagsVar: "TAGS_AWS", sdk: []*regexp.Regexp{
		regexp.MustCompile(`^github\.com/aws/aws-sdk-go-v2/service/([^/]+)$`),
		regexp.MustCompile(`^github\.com/aws/aws-sdk-go/service/([^/]+)$`),
		regexp.MustCompile(`^chpass/shared/(lambda)invoke$`), // Invoke, signed with the SDK's signer
	}},
	{cloud: "fc", goos: "linux", goarch: "amd64", tagsVar: "TAGS_FC", sdk: []*regexp.Regexp{
		regexp.MustCompile(`^github\.com/aliyun/alibaba-cloud-sdk-go/services/([^/]+)$`),
		regexp.MustCompile(`^github\.com/alibabacloud-go/([a-z0-9]+)-[0-9]{8}(?:/v[0-9]+)?/client$`),
	}},
}

// cloudSDK matches the packages of the clouds' SDKs. Each one a build links must
// either name a cloud API (egressBuild.sdk) or be plumbing that calls none
// (sdkPlumbing); any other fails the test, so that a new client (an SSO or IMDS
// credential provider, another vendor's SDK) is looked at, not missed.
var (
	cloudSDK    = regexp.MustCompile(`^(github\.com/(aws|aliyun|alibabacloud-go|huaweicloud|tencentcloud)/|cloud\.google\.com/|github\.com/Azure/azure-sdk)`)
	sdkPlumbing = []*regexp.Regexp{
		regexp.MustCompile(`^github\.com/aws/aws-lambda-go(/|$)`),                // the Lambda runtime API, on the host
		regexp.MustCompile(`^github\.com/aliyun/fc-runtime-go-sdk(/|$)`),         // the Function Compute runtime API, on the host
		regexp.MustCompile(`^github\.com/aws/smithy-go(/|$)`),                    // serialization and middleware
		regexp.MustCompile(`^github\.com/aws/aws-sdk-go-v2/(aws|internal)(/|$)`), // signing, retries, endpoint rules
		regexp.MustCompile(`^github\.com/aws/aws-sdk-go-v2/service/[^/]+/.`),     // an API client's own subpackages
		regexp.MustCompile(`^github\.com/aliyun/alibaba-cloud-sdk-go/sdk(/|$)`),
		regexp.MustCompile(`^github\.com/aliyun/alibaba-cloud-sdk-go/services/[^/]+/.`),
	}
)

// awsEndpointServices names, for each AWS API a function may call, the service of
// its VPC interface endpoint (com.amazonaws.REGION.NAME). An API missing here fails
// the test: add it, and an endpoint for it in template.yaml.
var awsEndpointServices = map[string]string{
	"secretsmanager": "secretsmanager",
	"kms":            "kms",
	"lambda":         "lambda",
	"eventbridge":    "events",
	"scheduler":      "scheduler",
	"sts":            "sts",
	"sqs":            "sqs",
	"sns":            "sns",
}

// fcVPCEndpoints names, for each Alibaba Cloud API a function may call, the
// environment variable that points its client at an endpoint and the VPC endpoint
// it must name when the function has no internet access.
var fcVPCEndpoints = map[string]struct{ env, host string }{
	"kms": {env: "CHPASS_KMS_ENDPOINT", host: "kms-vpc.%s.aliyuncs.com"},
}

// linkedAPIs returns the cloud APIs the build b of function fn links an SDK client of.
func linkedAPIs(tb testing.TB, b egressBuild, fn string) []string {
	tb.Helper()
	var apis []string
	for pkg := range linkedPackages(tb, b, fn) {
		api := ""
		for _, re := range b.sdk {
			if m := re.FindStringSubmatch(pkg); m != nil {
				api = m[1]
			}
		}
		switch {
		case api != "":
			if !slices.Contains(apis, api) {
				apis = append(apis, api)
			}
		case cloudSDK.MatchString(pkg) && !slices.ContainsFunc(sdkPlumbing, func(re *regexp.Regexp) bool { return re.MatchString(pkg) }):
			tb.Errorf("the %s build of %s links %s, a cloud SDK package this test cannot place: if it calls a cloud API, add its pattern to egressBuilds and declare the API in egress.yaml; if it calls none, add it to sdkPlumbing", b.cloud, fn, pkg)
		}
	}
	slices.Sort(apis)
	return apis
}

// makeVariable returns the Makefile's simple variable name (NAME := value).
func makeVariable(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":="); ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	tb.Fatalf("the Makefile sets no %s", name)
	return ""
}

func readEgress(tb testing.TB, fn string) egressDecl {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(root, "functions", fn, "egress.yaml"))
	if err != nil {
		tb.Fatalf("functions/%s/egress.yaml: %v: declare the cloud APIs the function calls (aws: and fc:, each - api: NAME, why: ...), even none", fn, err)
	}
	var d egressDecl
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		tb.Fatalf("functions/%s/egress.yaml: %v", fn, err)
	}
	return d
}

func apiNames(list []egressAPI) []string {
	var out []string
	for _, a := range list {
		out = append(out, a.API)
	}
	slices.Sort(out)
	return out
}

// TestEgress checks, for every function and each cloud's build, that the cloud
// APIs its egress.yaml declares are exactly those whose SDK clients the build
// links (go list -deps with the Makefile's tags), so that a new call, or a new
// function, cannot go undeclared; and that each has a way out of the VPC: an
// interface endpoint in template.yaml for AWS, a VPC endpoint (or internet
// access) in s.yaml for Function Compute. The README's table says the same.
func TestEgress(t *testing.T) {
	tmpl := readYAML(t, "template.yaml")
	s := renderSdevs(t)
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const heading = "### Which cloud APIs each function calls\n"
	_, readme, ok := strings.Cut(string(raw), heading)
	if !ok {
		t.Fatalf("README.md: no section %q", heading)
	}
	readme, _, _ = strings.Cut(readme, "\n#")
	region := path(child(s, "vars"), "region")
	if region == nil {
		t.Fatal("s.yaml: no vars.region")
	}
	// The endpoints template.yaml creates when VpcEndpointsVpcId is set.
	params := map[string]string{}
	for k, v := range samParams {
		params[k] = v
	}
	params["VpcEndpointsVpcId"] = "vpc-0123456789abcdef0"
	c := &cfn{params: params, conditions: map[string]*yaml.Node{}}
	conds := child(tmpl, "Conditions")
	for i := 0; i+1 < len(conds.Content); i += 2 {
		c.conditions[conds.Content[i].Value] = conds.Content[i+1]
	}
	endpoints := map[string]bool{}
	res := child(tmpl, "Resources")
	for i := 0; i+1 < len(res.Content); i += 2 {
		id, r := res.Content[i].Value, res.Content[i+1]
		if child(r, "Type").Value != "AWS::EC2::VPCEndpoint" {
			continue
		}
		if cond := child(r, "Condition"); cond != nil && !c.cond(t, cond.Value) {
			t.Errorf("%s: not created when VpcEndpointsVpcId is set", id)
			continue
		}
		p := child(r, "Properties")
		ok := fmt.Sprint(c.eval(t, child(p, "VpcEndpointType"))) == "Interface" &&
			fmt.Sprint(c.eval(t, child(p, "PrivateDnsEnabled"))) == "true" &&
			fmt.Sprint(c.eval(t, child(p, "VpcId"))) == params["VpcEndpointsVpcId"] &&
			path(p, "SubnetIds").Tag == "!Ref" && path(p, "SubnetIds").Value == "SubnetIds" &&
			path(p, "SecurityGroupIds").Tag == "!Ref" && path(p, "SecurityGroupIds").Value == "SecurityGroupIds"
		if !ok {
			t.Errorf("%s: want an Interface endpoint with private DNS in VpcEndpointsVpcId, SubnetIds and SecurityGroupIds", id)
			continue
		}
		endpoints[fmt.Sprint(c.eval(t, child(p, "ServiceName")))] = true
	}
	// Without VpcEndpointsVpcId, no endpoint is created (a NAT is the way out then).
	offParams := map[string]string{}
	for k, v := range samParams {
		offParams[k] = v
	}
	offParams["VpcEndpointsVpcId"] = ""
	off := &cfn{params: offParams, conditions: c.conditions}
	for i := 0; i+1 < len(res.Content); i += 2 {
		r := res.Content[i+1]
		if child(r, "Type").Value == "AWS::EC2::VPCEndpoint" {
			if cond := child(r, "Condition"); cond == nil || off.cond(t, cond.Value) {
				t.Errorf("%s: created even without VpcEndpointsVpcId", res.Content[i].Value)
			}
		}
	}

	sams := map[string]samFunction{}
	for _, fn := range samFunctions(t, tmpl) {
		sams[fn.Dir] = fn
	}
	sdevs := child(s, "resources")
	for _, fn := range functions(t) {
		t.Run(fn, func(t *testing.T) {
			decl := readEgress(t, fn)
			for _, b := range egressBuilds {
				declared := apiNames(decl.AWS)
				if b.cloud == "fc" {
					declared = apiNames(decl.FC)
				}
				for _, a := range append(decl.AWS, decl.FC...) {
					if strings.TrimSpace(a.Why) == "" {
						t.Errorf("egress.yaml: %s: say why the function calls it", a.API)
					}
				}
				if linked := linkedAPIs(t, b, fn); !slices.Equal(linked, declared) {
					t.Errorf("the %s build links SDK clients for %v, egress.yaml declares %v: make them the same", b.cloud, linked, declared)
				}
				switch b.cloud {
				case "aws":
					sam, ok := sams[fn]
					if !ok {
						t.Fatalf("template.yaml does not deploy %s", fn)
					}
					if vpc := prop(tmpl, sam, "VpcConfig"); vpc == nil {
						t.Fatalf("%s is not in a VPC: this test assumes the directory is reached inside one", sam.LogicalID)
					}
					for _, api := range declared {
						svc, ok := awsEndpointServices[api]
						if !ok {
							t.Errorf("AWS API %s: unknown to this test; add its endpoint service to awsEndpointServices and an AWS::EC2::VPCEndpoint to template.yaml", api)
							continue
						}
						if name := "com.amazonaws.eu-west-1." + svc; !endpoints[name] {
							t.Errorf("AWS API %s: template.yaml creates no interface endpoint %s with VpcEndpointsVpcId", api, name)
						}
					}
				case "fc":
					props := child(child(sdevs, fn), "props")
					if props == nil {
						t.Fatalf("s.yaml does not deploy %s", fn)
					}
					internet := child(props, "internetAccess")
					open := internet != nil && internet.Value == "true"
					env := child(props, "environmentVariables")
					needInternet := false
					for _, api := range declared {
						ep, ok := fcVPCEndpoints[api]
						if !ok {
							t.Errorf("Alibaba Cloud API %s: unknown to this test; add its endpoint variable and VPC endpoint to fcVPCEndpoints", api)
							continue
						}
						want := fmt.Sprintf(ep.host, region.Value)
						if got := child(env, ep.env); got == nil || got.Value != want {
							if !open {
								t.Errorf("Alibaba Cloud API %s: internetAccess is false and %s is not the VPC endpoint %s", api, ep.env, want)
							}
							needInternet = true
						}
					}
					if open && !needInternet {
						t.Error("internetAccess is true, but every API the function calls has a VPC endpoint: set it false")
					}
					if child(props, "vpcConfig") == nil {
						t.Error("no vpcConfig: the function must reach the directory inside the VPC")
					}
				}
			}
			// The README's table names the same APIs.
			row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(fn) + "` \\|([^|\\n]*)\\|([^|\\n]*)\\|")
			m := row.FindStringSubmatch(readme)
			if m == nil {
				t.Fatalf("README.md: no row | `%s` | … | … | in \"Which cloud APIs each function calls\"", fn)
			}
			for i, list := range [][]egressAPI{decl.AWS, decl.FC} {
				var named []string
				for _, w := range regexp.MustCompile("`([a-z0-9]+)`").FindAllStringSubmatch(m[i+1], -1) {
					named = append(named, w[1])
				}
				slices.Sort(named)
				if !slices.Equal(named, apiNames(list)) {
					t.Errorf("README.md row %s names %v for %s, egress.yaml %v", fn, named, []string{"AWS", "Alibaba Cloud"}[i], apiNames(list))
				}
			}
		})
	}
}
