package kubeharness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// usersNamespace holds the service accounts behind CreateUser's users.
const usersNamespace = "default"

// userTokenSeconds is how long a user's token is valid.
const userTokenSeconds = 24 * 60 * 60

// User is an identity holding only the RBAC rules it was created with
// (plus what every authenticated user may do, such as discovery).
type User struct {
	// Name is the username the apiserver sees,
	// system:serviceaccount:default:NAME.
	Name string
	// Token is the user's bearer token.
	Token string
	// Kubeconfig is the path of a kubeconfig acting as the user.
	Kubeconfig string
	// Config is a client configuration acting as the user.
	Config *rest.Config
	// Client is a clientset acting as the user.
	Client kubernetes.Interface
}

// CreateUser makes a user named name whose only permissions are rules,
// cluster-wide: a service account NAME in `default`, a ClusterRole and a
// ClusterRoleBinding kubeharness:NAME (never a built-in role's name), and a
// token valid for a day. It returns once the apiserver's authorizer grants
// the first rule. Creating a user again replaces its rules.
func (c *Cluster) CreateUser(ctx context.Context, name string, rules ...rbacv1.PolicyRule) (*User, error) {
	if err := c.grant(ctx, name, rules); err != nil {
		return nil, fmt.Errorf("user %s: %w", name, err)
	}
	u, err := c.newUser(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", name, err)
	}
	if err := c.waitGranted(ctx, u.Name, rules); err != nil {
		return nil, fmt.Errorf("user %s: %w", name, err)
	}
	return u, nil
}

// grant creates the service account and binds it to a ClusterRole of rules.
func (c *Cluster) grant(ctx context.Context, name string, rules []rbacv1.PolicyRule) error {
	labels := map[string]string{"app.kubernetes.io/managed-by": "kubeharness"}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: usersNamespace, Labels: labels}}
	if err := createOrUpdate(ctx, c.Client.CoreV1().ServiceAccounts(usersNamespace), sa); err != nil {
		return fmt.Errorf("service account: %w", err)
	}
	meta := metav1.ObjectMeta{Name: "kubeharness:" + name, Labels: labels}
	role := &rbacv1.ClusterRole{ObjectMeta: meta, Rules: rules}
	if err := createOrUpdate(ctx, c.Client.RbacV1().ClusterRoles(), role); err != nil {
		return fmt.Errorf("cluster role: %w", err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: meta,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: meta.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: usersNamespace, Name: name}},
	}
	if err := createOrUpdate(ctx, c.Client.RbacV1().ClusterRoleBindings(), binding); err != nil {
		return fmt.Errorf("cluster role binding: %w", err)
	}
	return nil
}

// newUser requests a token for the service account and writes its kubeconfig.
func (c *Cluster) newUser(ctx context.Context, name string) (*User, error) {
	request := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(userTokenSeconds))}}
	token, err := c.Client.CoreV1().ServiceAccounts(usersNamespace).CreateToken(ctx, name, request, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	u := &User{Name: "system:serviceaccount:" + usersNamespace + ":" + name, Token: token.Status.Token}
	if err := os.MkdirAll(c.path("users"), 0o700); err != nil {
		return nil, fmt.Errorf("users directory: %w", err)
	}
	u.Kubeconfig = filepath.Join(c.path("users"), name+".kubeconfig")
	if err := c.writeKubeconfig(u.Kubeconfig, name, u.Token); err != nil {
		return nil, err
	}
	u.Config = c.restConfig(u.Token)
	if u.Client, err = kubernetes.NewForConfig(u.Config); err != nil {
		return nil, fmt.Errorf("clientset: %w", err)
	}
	return u, nil
}

// waitGranted waits until the authorizer, which learns of RBAC objects
// through a watch, allows user the first rule's first verb on its first
// resource. Rules without resources are not waited for.
func (c *Cluster) waitGranted(ctx context.Context, user string, rules []rbacv1.PolicyRule) error {
	attrs := firstResource(rules)
	if attrs == nil {
		return nil
	}
	return poll(ctx, c.failed, func(ctx context.Context) error {
		review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: attrs}}
		got, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		if !got.Status.Allowed {
			return fmt.Errorf("%s %s.%s not allowed yet", attrs.Verb, attrs.Resource, attrs.Group)
		}
		return nil
	})
}

// firstResource is the access the first resource rule grants first.
func firstResource(rules []rbacv1.PolicyRule) *authorizationv1.ResourceAttributes {
	for _, r := range rules {
		if len(r.Verbs) == 0 || len(r.Resources) == 0 || len(r.APIGroups) == 0 {
			continue
		}
		attrs := &authorizationv1.ResourceAttributes{Verb: r.Verbs[0], Group: r.APIGroups[0], Resource: r.Resources[0]}
		if len(r.ResourceNames) > 0 {
			attrs.Name = r.ResourceNames[0]
		}
		return attrs
	}
	return nil
}

// resourceClient is the part of a typed client createOrUpdate uses.
type resourceClient[T metav1.Object] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
	Update(context.Context, T, metav1.UpdateOptions) (T, error)
	Get(context.Context, string, metav1.GetOptions) (T, error)
}

// createOrUpdate creates obj, or replaces the existing object of its name.
func createOrUpdate[T metav1.Object](ctx context.Context, client resourceClient[T], obj T) error {
	_, err := client.Create(ctx, obj, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	existing, err := client.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		return err
	}
	obj.SetResourceVersion(existing.GetResourceVersion())
	_, err = client.Update(ctx, obj, metav1.UpdateOptions{})
	return err
}
