"""The services that drain the workload, each from a fresh group and fresh
state: how to start one, when it is ready, where its outputs go."""
import os

from .measure import Process

CHANGELOG_SOURCE = ("wcoord.source.partition", "wcoord.source.offset")
DEADLETTER_SOURCE = ("__connect.errors.partition", "__connect.errors.offset")
# What wcoord's prepare_topics gives its outputs (kafka/topics.cpp).
OUTPUT_MAX_MESSAGE_BYTES = str((1 << 20) + (64 << 10))
PARTITIONS = 4


class Contender:
    family = ""          # copy | wcoord | streams
    guarantee = "at_least_once"
    marker = ""          # a line the process prints once its partitions are assigned
    decides = True       # publishes changelog records and dead letters (else copies)

    def __init__(self, key, label):
        self.key, self.label = key, label

    def prepare(self, broker, group):
        """Creates the output topics the contender does not create itself."""

    def outputs(self, group):
        """[(topic, partition header, offset header)] naming each output's input."""
        return [(group + ".changelog",) + CHANGELOG_SOURCE, (group + ".dlq",) + DEADLETTER_SOURCE]

    def start(self, ctx, topic, group, state_dir, log_path):
        raise NotImplementedError


def _decider_outputs(broker, group):
    broker.create_topic(group + ".changelog", PARTITIONS,
                        {"cleanup.policy": "compact",
                         "max.message.bytes": OUTPUT_MAX_MESSAGE_BYTES})
    broker.create_topic(group + ".dlq", PARTITIONS, {"max.message.bytes": OUTPUT_MAX_MESSAGE_BYTES})


class Copy(Contender):
    """bench/copy_ceiling: consume, produce one output per input, commit."""
    family = "copy"
    marker = r"assigned [1-9]\d* partition"
    decides = False

    def __init__(self, guarantee):
        eos = guarantee == "exactly_once"
        super().__init__("copy-eos" if eos else "copy",
                         "copy ceiling, " + ("transactional" if eos else "at_least_once"))
        self.guarantee = guarantee

    def prepare(self, broker, group):
        broker.create_topic(group + ".copy", PARTITIONS,
                            {"max.message.bytes": OUTPUT_MAX_MESSAGE_BYTES})

    def outputs(self, group):
        return [(group + ".copy",) + CHANGELOG_SOURCE]

    def start(self, ctx, topic, group, state_dir, log_path):
        argv = [ctx.copy_ceiling, "--bootstrap-servers", ctx.broker.bootstrap, "--topic", topic,
                "--group", group, "--output", group + ".copy",
                "--commit-interval-ms", str(ctx.commit_interval_ms)]
        if self.guarantee == "exactly_once":
            argv.append("--transactional")
        return Process(argv, log_path=log_path)


class Wcoord(Contender):
    """`wcoord run` at its default settings (plus --set from the command line)."""
    family = "wcoord"
    marker = r"assigned [1-9]\d* partition"

    def __init__(self, guarantee, settings=(), key=None, label=None):
        eos = guarantee == "exactly_once"
        super().__init__(key or ("wcoord-eos" if eos else "wcoord"),
                         label or "wcoord run, " + guarantee)
        self.guarantee = guarantee
        self.settings = list(settings)

    def start(self, ctx, topic, group, state_dir, log_path):
        argv = [ctx.wcoord, "run", "--set", "bootstrap.servers=" + ctx.broker.bootstrap,
                "--set", "group.id=" + group, "--set", "topics=" + topic,
                "--set", "state.dir=" + state_dir, "--set", "processing.guarantee=" + self.guarantee,
                # Port 0: never the port of another engineer's instance.
                "--set", "http.listen=127.0.0.1:0"]
        for kv in ctx.wcoord_settings + self.settings:
            argv += ["--set", kv]
        return Process(argv, log_path=log_path)


class Streams(Contender):
    """The Kafka Streams baseline (bench/baselines/kafka-streams)."""
    family = "streams"
    marker = r"wcoord-streams: RUNNING"

    def __init__(self, guarantee, threads):
        eos = guarantee == "exactly_once"
        super().__init__(("streams-eos-t%d" if eos else "streams-t%d") % threads,
                         "Kafka Streams, %s, %d thread%s" % (
                             "exactly_once_v2" if eos else "at_least_once", threads,
                             "s" if threads > 1 else ""))
        self.guarantee = guarantee
        self.threads = threads

    def prepare(self, broker, group):
        _decider_outputs(broker, group)

    def start(self, ctx, topic, group, state_dir, log_path):
        argv = ["java"] + ctx.java_options + ["-jar", ctx.streams_jar,
                "--bootstrap-servers", ctx.broker.bootstrap, "--input", topic,
                "--application-id", group, "--changelog", group + ".changelog",
                "--dlq", group + ".dlq", "--state-dir", state_dir,
                "--guarantee", "exactly_once_v2" if self.guarantee == "exactly_once"
                else "at_least_once",
                "--threads", str(self.threads),
                "--commit-interval-ms", str(ctx.commit_interval_ms)]
        return Process(argv, log_path=log_path, env=dict(os.environ))
