"""What the tests share: the running system, ways to talk to it, and the deployment files
(Compose, Dockerfile, Kubernetes manifests) as the offline checks read them."""
