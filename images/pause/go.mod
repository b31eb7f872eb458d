module kubelab.invalid/images/pause

go 1.22
