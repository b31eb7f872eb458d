module kubelab.invalid/images/probe

go 1.22
