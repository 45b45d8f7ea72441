// Command kwok-task-results plays, for the sandbox's kwok nodes only, the one part of Argo's
// `wait` container that a simulated pod cannot: it writes the WorkflowTaskResult that reports a
// finished step's outputs. kwok runs no container, and Argo's controller holds a step that
// declares outputs Running until that result arrives, so without this stand-in a Workflow whose
// steps pass values never finishes on kwok.
//
// It acts only on pods that kwok ran (their node carries kwok's `kwok.x-k8s.io/node: fake`
// annotation) and that ended Succeeded; pods on the sandbox's real node have a real executor.
// For the steps of kfcheck's own sample Workflows (checks/workflows/) it computes the outputs
// from the step's real inputs, as the sample's script would; for any other template it gives each
// declared output parameter its `valueFrom.default`, and where one has none it logs that it cannot
// know the value and writes nothing (the step then stays Running, as it would with a broken
// executor). Every result it writes is logged, owned by its Workflow (deleted with it) and
// labelled `kfcheck.sandbox/written-by: kwok-task-results`, so no one mistakes it for the
// executor's.
//
// Usage: kwok-task-results --kubeconfig FILE
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	workflowLabel = "workflows.argoproj.io/workflow"
	nodeIDAnno    = "workflows.argoproj.io/node-id"
	completeLabel = "workflows.argoproj.io/report-outputs-completed"
	kwokNodeAnno  = "kwok.x-k8s.io/node"
)

var (
	workflows   = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "workflows"}
	taskResults = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "workflowtaskresults"}
)

type param struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// sampleOutputs: what the scripts of kfcheck's sample steps print, from their inputs.
func sampleOutputs(template string, input func(string) (string, bool)) ([]param, bool) {
	switch template {
	case "make-numbers":
		v, ok := input("count")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return nil, false
		}
		nums := make([]string, 0, n)
		for i := 1; i <= n; i++ {
			nums = append(nums, strconv.Itoa(i))
		}
		return []param{{"numbers", strings.Join(nums, "\n")}}, true
	case "sum-numbers":
		v, ok := input("numbers")
		if !ok {
			return nil, false
		}
		total := 0
		for _, f := range strings.Fields(v) {
			if n, err := strconv.Atoi(f); err == nil {
				total += n
			}
		}
		return []param{{"total", strconv.Itoa(total)}}, true
	case "gpu-probe":
		// kwok's GPU node is labelled as an L4 (tools/sandbox/populate.sh).
		return []param{{"gpu-name", "NVIDIA L4"}}, true
	}
	return nil, false
}

type standIn struct {
	dyn     dynamic.Interface
	nodes   cache.Indexer
	mu      sync.Mutex
	written map[string]bool // namespace/node id
}

func (s *standIn) onPod(obj interface{}) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Status.Phase != corev1.PodSucceeded {
		return
	}
	wf, node := pod.Labels[workflowLabel], pod.Annotations[nodeIDAnno]
	if wf == "" || node == "" || pod.Spec.NodeName == "" {
		return
	}
	n, exists, _ := s.nodes.GetByKey(pod.Spec.NodeName)
	if !exists || n.(*corev1.Node).Annotations[kwokNodeAnno] != "fake" {
		return
	}
	key := pod.Namespace + "/" + node
	s.mu.Lock()
	done := s.written[key]
	s.mu.Unlock()
	if done {
		return
	}
	if s.write(pod.Namespace, wf, node) {
		s.mu.Lock()
		s.written[key] = true
		s.mu.Unlock()
	}
}

// write reports whether the step needs nothing more from the stand-in.
func (s *standIn) write(ns, wfName, nodeID string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wf, err := s.dyn.Resource(workflows).Namespace(ns).Get(ctx, wfName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true
	}
	if err != nil {
		log.Printf("reading workflow %s/%s: %v (retried on the next resync)", ns, wfName, err)
		return false
	}
	templateName, _, _ := unstructured.NestedString(wf.Object, "status", "nodes", nodeID, "templateName")
	if templateName == "" {
		return false // the controller has not recorded the node yet
	}
	inputs, _, _ := unstructured.NestedSlice(wf.Object, "status", "nodes", nodeID, "inputs", "parameters")
	input := func(name string) (string, bool) {
		for _, p := range inputs {
			if m, ok := p.(map[string]interface{}); ok && m["name"] == name {
				v, ok := m["value"].(string)
				return v, ok
			}
		}
		return "", false
	}
	declared := declaredOutputs(wf, templateName)
	if len(declared) == 0 {
		return true // no outputs: the controller finishes the step from the pod alone
	}
	outs, ok := sampleOutputs(templateName, input)
	if !ok {
		for _, d := range declared {
			def, has, _ := unstructured.NestedString(d, "valueFrom", "default")
			name, _ := d["name"].(string)
			if !has {
				log.Printf("%s/%s node %s: template %s declares output %q with no default; a stand-in cannot know its value, nothing written",
					ns, wfName, nodeID, templateName, name)
				return true
			}
			outs = append(outs, param{name, def})
		}
	}
	params := make([]interface{}, 0, len(outs))
	for _, p := range outs {
		params = append(params, map[string]interface{}{"name": p.Name, "value": p.Value})
	}
	result := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "WorkflowTaskResult",
		"metadata": map[string]interface{}{
			"name":      nodeID,
			"namespace": ns,
			"labels": map[string]interface{}{
				workflowLabel:                  wfName,
				completeLabel:                  "true",
				"kfcheck.sandbox/written-by":   "kwok-task-results",
				"app.kubernetes.io/managed-by": "kfcheck-sandbox",
			},
			"ownerReferences": []interface{}{map[string]interface{}{
				"apiVersion": "argoproj.io/v1alpha1",
				"kind":       "Workflow",
				"name":       wfName,
				"uid":        string(wf.GetUID()),
			}},
		},
		"outputs": map[string]interface{}{"parameters": params},
	}}
	_, err = s.dyn.Resource(taskResults).Namespace(ns).Create(ctx, result, metav1.CreateOptions{FieldManager: "kwok-task-results"})
	switch {
	case err == nil:
		log.Printf("%s/%s node %s (%s): wrote the task result kwok's pod could not: %v", ns, wfName, nodeID, templateName, outs)
		return true
	case apierrors.IsAlreadyExists(err):
		return true
	default:
		log.Printf("%s/%s node %s: writing the task result: %v (retried on the next resync)", ns, wfName, nodeID, err)
		return false
	}
}

// declaredOutputs: the output parameters the Workflow's template declares.
func declaredOutputs(wf *unstructured.Unstructured, template string) []map[string]interface{} {
	templates, _, _ := unstructured.NestedSlice(wf.Object, "spec", "templates")
	for _, t := range templates {
		m, ok := t.(map[string]interface{})
		if !ok || m["name"] != template {
			continue
		}
		ps, _, _ := unstructured.NestedSlice(m, "outputs", "parameters")
		out := make([]map[string]interface{}, 0, len(ps))
		for _, p := range ps {
			if pm, ok := p.(map[string]interface{}); ok {
				out = append(out, pm)
			}
		}
		return out
	}
	return nil
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the sandbox")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatalf("kubeconfig: %v", err)
	}
	cfg.Timeout = 15 * time.Second
	kube := kubernetes.NewForConfigOrDie(cfg)
	s := &standIn{dyn: dynamic.NewForConfigOrDie(cfg), written: map[string]bool{}}

	stop := make(chan struct{})
	nodes := informers.NewSharedInformerFactory(kube, 0)
	nodeInformer := nodes.Core().V1().Nodes().Informer()
	s.nodes = nodeInformer.GetIndexer()
	// Resynced every 2 s, so that a result that could not be written yet is tried again.
	pods := informers.NewSharedInformerFactoryWithOptions(kube, 2*time.Second,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = workflowLabel }))
	podInformer := pods.Core().V1().Pods().Informer()
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.onPod,
		UpdateFunc: func(_, obj interface{}) { s.onPod(obj) },
	}); err != nil {
		log.Fatalf("pod informer: %v", err)
	}
	nodes.Start(stop)
	pods.Start(stop)
	for _, synced := range []cache.InformerSynced{nodeInformer.HasSynced, podInformer.HasSynced} {
		if !cache.WaitForCacheSync(stop, synced) {
			log.Fatal("informers did not sync")
		}
	}
	fmt.Println("kwok-task-results: watching Workflow pods on kwok's nodes")
	select {}
}
