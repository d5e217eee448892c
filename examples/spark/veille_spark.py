"""Classify a large corpus with veille on Apache Spark (one machine or a cluster).

Reads JSON Lines (one paragraph per line: at least "text"; "id", "doc" and other fields
are kept) or Parquet with the same columns, splits it into partitions, and pipes each
partition through `veille stream` on the executors. The records come back as JSON lines
and are written as Parquet with the columns of `veille classify --format parquet`
(`labels` a list of strings, one float column per label score).

Every input line yields exactly one output row: a partition whose `veille stream` does
not answer every line, or that exits with a configuration error (status 2, e.g. missing
models), fails its task (Spark retries it) instead of losing rows quietly.

    spark-submit examples/spark/veille_spark.py --input corpus.jsonl --output out/ \
        --master local[2] --veille target/debug/veille --models models

See docs/spark.md for a real cluster (the binary, libtorch and models/ shipped with
--archives, or installed on every node).
"""

import argparse
import os
import subprocess
import threading

LABELS = ["espionage", "influence-operation", "corporate-denial", "regulation"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", required=True, help="JSON Lines file/folder, or Parquet")
    p.add_argument("--output", required=True, help="Parquet folder to write (replaced)")
    p.add_argument("--master", default=None,
                   help="Spark master, e.g. local[2] (default: what spark-submit says)")
    p.add_argument("--input-format", choices=["auto", "jsonl", "parquet"], default="auto")
    p.add_argument("--partitions", type=int, default=None,
                   help="partitions (default: Spark's default parallelism)")
    p.add_argument("--veille", default="veille",
                   help="the veille binary as the executors see it")
    p.add_argument("--models", default=None,
                   help="models folder as the executors see it (default: the binary's own)")
    p.add_argument("--lib", default=None,
                   help="folder with libtorch's shared libraries, put on LD_LIBRARY_PATH")
    p.add_argument("--threads", type=int, default=1,
                   help="libtorch threads per task (cores per task)")
    p.add_argument("--strategy", default="embed", choices=["embed", "translate"])
    p.add_argument("--max-batch", type=int, default=32)
    return p.parse_args(argv)


def stream_command(args):
    cmd = [args.veille, "stream", "--strategy", args.strategy,
           "--threads", str(args.threads), "--max-batch", str(args.max_batch),
           # A batch job has no latency to keep: wait for full batches.
           "--max-wait-ms", "1000"]
    if args.models:
        cmd += ["--models", args.models]
    return cmd


def classify_partition(cmd, lib):
    """Returns the function Spark runs on each partition: lines in, record lines out."""

    def run(lines):
        env = dict(os.environ)
        if lib:
            env["LD_LIBRARY_PATH"] = lib + os.pathsep + env.get("LD_LIBRARY_PATH", "")
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        sent = [0]
        failure = []

        def feed():
            # A thread, so that a full stdout pipe never blocks the writing of stdin.
            try:
                for line in lines:
                    if not line.strip():
                        continue
                    proc.stdin.write(line.encode("utf-8") + b"\n")
                    sent[0] += 1
            except BrokenPipeError:
                pass  # veille died; its status and stderr say why
            except Exception as e:  # noqa: BLE001 - reported below, in the task
                failure.append(e)
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass

        errors = []
        drain = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
        drain.start()
        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        received = 0
        for out in proc.stdout:
            received += 1
            yield out.decode("utf-8").rstrip("\n")
        writer.join()
        status = proc.wait()
        drain.join()
        stderr = b"".join(errors).decode("utf-8", "replace").strip()
        if failure:
            raise failure[0]
        # 0: all fine; 1: some error records (they are rows too). Anything else is a failure.
        if status not in (0, 1):
            raise RuntimeError(f"veille stream exited with {status}: {stderr[-2000:]}")
        if received != sent[0]:
            raise RuntimeError(
                f"veille stream answered {received} of {sent[0]} lines: {stderr[-2000:]}")

    return run


def record_schema():
    from pyspark.sql import types as T
    return T.StructType([
        T.StructField("id", T.StringType()),
        T.StructField("doc", T.StringType()),
        T.StructField("para", T.LongType()),
        T.StructField("text", T.StringType()),
        T.StructField("lang", T.StringType()),
        T.StructField("lang_confidence", T.DoubleType()),
        T.StructField("lang_guess", T.StringType()),
        T.StructField("labels", T.ArrayType(T.StringType())),
        T.StructField("scores", T.StructType(
            [T.StructField(label, T.FloatType()) for label in LABELS])),
        T.StructField("strategy", T.StringType()),
        T.StructField("model", T.StringType()),
        T.StructField("translation", T.StringType()),
        # An object in the records; a string field keeps its JSON text.
        T.StructField("meta", T.StringType()),
        T.StructField("error", T.StringType()),
    ])


def input_lines(spark, args):
    """The input as an RDD of JSON lines, in file order within each partition."""
    fmt = args.input_format
    if fmt == "auto":
        fmt = "parquet" if args.input.rstrip("/").endswith(".parquet") else "jsonl"
    if fmt == "parquet":
        lines = spark.read.parquet(args.input).toJSON()
        if args.partitions:
            lines = lines.repartition(args.partitions)
        return lines
    sc = spark.sparkContext
    return sc.textFile(args.input, minPartitions=args.partitions or sc.defaultParallelism)


def main(argv=None):
    args = parse_args(argv)
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    builder = SparkSession.builder.appName("veille")
    if args.master:
        builder = builder.master(args.master)
    spark = builder.getOrCreate()
    try:
        lines = input_lines(spark, args)
        records = lines.mapPartitions(classify_partition(stream_command(args), args.lib))
        df = spark.read.schema(record_schema()).json(records)
        columns = [F.col(c) for c in ["id", "doc", "para", "text", "lang",
                                       "lang_confidence", "lang_guess", "labels"]]
        columns += [F.col("scores").getField(label).alias(f"score_{label}")
                    for label in LABELS]
        columns += [F.col(c) for c in ["strategy", "model", "translation", "meta", "error"]]
        df.select(*columns).write.mode("overwrite").parquet(args.output)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
