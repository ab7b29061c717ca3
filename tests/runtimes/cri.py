#!/usr/bin/python3
"""cri.py - a small CRI (runtime.v1) client, so tests can drive containerd's CRI plugin (and
through it the CNI plugins) on Debian 12, which packages neither crictl nor a kubelet.

Uses Debian's python3-grpcio and python3-protobuf: the messages are declared in cri.proto
next to this file and compiled with protoc into a temporary directory on every run.

  cri.py --socket SOCK version
  cri.py --socket SOCK run-pod NAME [--namespace NS] [--uid UID] [--port HOST:CTR]...
                                    prints the sandbox id (CNI ADD runs here)
  cri.py --socket SOCK list-pods    one sandbox id per line
  cri.py --socket SOCK pod-status ID
                                    {"id", "name", "namespace", "state": READY|NOTREADY,
                                     "ip", "additional_ips"}
  cri.py --socket SOCK stop-pod ID  (CNI DEL with the sandbox's netns)
  cri.py --socket SOCK remove-pod ID   (containerd's second DEL, without a netns)
  cri.py --socket SOCK create POD_ID NAME IMAGE [--pod-name P --namespace NS --uid UID]
                                    [-- CMD...]   prints the container id
  cri.py --socket SOCK start CID | stop CID [--grace S] | remove CID
  cri.py --socket SOCK exec CID CMD...   ExecSync; prints its output, exits with its status

Exit status 2 and one line on stderr when the runtime refuses a call.
"""
import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))


def load_messages():
    """Compiles cri.proto and imports the generated module."""
    out = tempfile.mkdtemp(prefix="km-cri-")
    try:
        subprocess.run(["protoc", "-I", HERE, "--python_out", out, "cri.proto"], check=True)
        sys.path.insert(0, out)
        return importlib.import_module("cri_pb2")
    finally:
        shutil.rmtree(out, ignore_errors=True)  # the module is already in memory


pb = load_messages()
SERVICE = "/runtime.v1.RuntimeService/"


class Runtime:
    def __init__(self, socket, timeout):
        self.channel = grpc.insecure_channel("unix://" + socket)
        self.timeout = timeout

    def call(self, method, request, reply_type):
        stub = self.channel.unary_unary(SERVICE + method,
                                        request_serializer=type(request).SerializeToString,
                                        response_deserializer=reply_type.FromString)
        return stub(request, timeout=self.timeout)


def sandbox_config(name, namespace, uid, ports=()):
    cfg = pb.PodSandboxConfig(hostname=name,
                              log_directory="/var/log/pods/%s_%s_%s" % (namespace, name, uid))
    cfg.metadata.name = name
    cfg.metadata.namespace = namespace
    cfg.metadata.uid = uid
    cfg.labels["io.keymesh.test"] = "1"
    cfg.linux.SetInParent()
    for spec in ports:
        host, ctr = (int(x) for x in spec.split(":"))
        cfg.port_mappings.add(protocol=pb.TCP, host_port=host, container_port=ctr,
                              host_ip="127.0.0.1")
    return cfg


def pod_status(rt, pod_id):
    st = rt.call("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id),
                 pb.PodSandboxStatusResponse).status
    return {"id": st.id, "name": st.metadata.name, "namespace": st.metadata.namespace,
            "state": pb.PodSandboxState.Name(st.state).removeprefix("SANDBOX_"),
            "ip": st.network.ip, "additional_ips": [p.ip for p in st.network.additional_ips]}


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="cri.py", description="minimal CRI client")
    ap.add_argument("--socket", required=True, help="containerd's gRPC socket")
    ap.add_argument("--timeout", type=float, default=60, help="seconds per call")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("version")
    p = sub.add_parser("run-pod")
    p.add_argument("name")
    p.add_argument("--namespace", default="default")
    p.add_argument("--uid")
    p.add_argument("--port", action="append", default=[], metavar="HOST:CTR")
    sub.add_parser("list-pods")
    for name in ("pod-status", "stop-pod", "remove-pod"):
        sub.add_parser(name).add_argument("pod_id")
    p = sub.add_parser("create")
    p.add_argument("pod_id")
    p.add_argument("name")
    p.add_argument("image")
    p.add_argument("--pod-name", help="the pod's name if it differs from NAME")
    p.add_argument("--namespace", default="default")
    p.add_argument("--uid")
    p.add_argument("command", nargs="*", help="after --")
    for name in ("start", "remove"):
        sub.add_parser(name).add_argument("cid")
    p = sub.add_parser("stop")
    p.add_argument("cid")
    p.add_argument("--grace", type=int, default=2)
    p = sub.add_parser("exec")
    p.add_argument("cid")
    p.add_argument("command", nargs=argparse.REMAINDER)
    return ap.parse_args(argv)


def run(a):
    rt = Runtime(a.socket, a.timeout)
    if a.cmd == "version":
        v = rt.call("Version", pb.VersionRequest(version="v1"), pb.VersionResponse)
        print(json.dumps({"runtime": v.runtime_name, "version": v.runtime_version,
                          "api": v.runtime_api_version}))
    elif a.cmd == "run-pod":
        cfg = sandbox_config(a.name, a.namespace, a.uid or "uid-" + a.name, a.port)
        r = rt.call("RunPodSandbox", pb.RunPodSandboxRequest(config=cfg), pb.RunPodSandboxResponse)
        print(r.pod_sandbox_id)
    elif a.cmd == "list-pods":
        for item in rt.call("ListPodSandbox", pb.ListPodSandboxRequest(),
                            pb.ListPodSandboxResponse).items:
            print(item.id)
    elif a.cmd == "pod-status":
        print(json.dumps(pod_status(rt, a.pod_id)))
    elif a.cmd == "stop-pod":
        rt.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=a.pod_id),
                pb.StopPodSandboxResponse)
    elif a.cmd == "remove-pod":
        rt.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=a.pod_id),
                pb.RemovePodSandboxResponse)
    elif a.cmd == "create":
        pod = a.pod_name or a.name
        cfg = pb.ContainerConfig(command=a.command, log_path=a.name + ".log")
        cfg.metadata.name = a.name
        cfg.image.image = a.image
        req = pb.CreateContainerRequest(pod_sandbox_id=a.pod_id, config=cfg,
                                        sandbox_config=sandbox_config(pod, a.namespace,
                                                                      a.uid or "uid-" + pod))
        print(rt.call("CreateContainer", req, pb.CreateContainerResponse).container_id)
    elif a.cmd == "start":
        rt.call("StartContainer", pb.StartContainerRequest(container_id=a.cid),
                pb.StartContainerResponse)
    elif a.cmd == "stop":
        rt.call("StopContainer", pb.StopContainerRequest(container_id=a.cid, timeout=a.grace),
                pb.StopContainerResponse)
    elif a.cmd == "remove":
        rt.call("RemoveContainer", pb.RemoveContainerRequest(container_id=a.cid),
                pb.RemoveContainerResponse)
    elif a.cmd == "exec":
        r = rt.call("ExecSync", pb.ExecSyncRequest(container_id=a.cid, cmd=a.command,
                                                   timeout=int(a.timeout)), pb.ExecSyncResponse)
        sys.stdout.buffer.write(r.stdout)
        sys.stderr.buffer.write(r.stderr)
        return r.exit_code
    return 0


def main():
    argv = sys.argv[1:]
    tail = None
    if "--" in argv and "create" in argv[:argv.index("--")]:  # create ... -- CMD...
        argv, tail = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    a = parse_args(argv)
    if tail is not None:
        a.command = a.command + tail
    try:
        return run(a)
    except grpc.RpcError as e:
        print("cri.py %s: %s: %s" % (a.cmd, e.code().name, e.details()), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
