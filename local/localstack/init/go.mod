module lenet.local/localstack-init

go 1.22
