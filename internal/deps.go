package deps
import (
 _ "k8s.io/client-go/kubernetes"
 _ "k8s.io/client-go/dynamic"
 _ "k8s.io/client-go/tools/clientcmd"
 _ "k8s.io/client-go/tools/remotecommand"
 _ "github.com/redis/go-redis/v9"
 _ "github.com/go-sql-driver/mysql"
 _ "github.com/jackc/pgx/v5"
 _ "github.com/urfave/cli/v2"
 _ "github.com/minio/minio-go/v7"
 _ "github.com/robfig/cron/v3"
 _ "github.com/klauspost/compress/zstd"
 _ "filippo.io/age"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "sigs.k8s.io/yaml"
)
