"""`doorctl verify-server`: a reference third-party verification server for installers.

  doorctl verify-server --port 8090 --rules rules.json
  doorctl verify-server --allow 12345678 --allow 04A1B2C3 --form validation_result
  doorctl verify-server --allow 04A1B2C3 --delay-ms 0 --delay-max-ms 2900 --no-answer 0.05

Logs every request a door sends (method, path, query decoded) and answers by rules
(host_tools/doorctl/verify_server.py, docs/verify.md). Point the door's verify.url at it,
e.g. http://<this host>:8090/api/visitor/scan?codeKey={QRCode}&deviceId={DeviceID}.
"""
import json
import sys

from doorctl.errors import CliError


def cmd_verify_server(args):
    from doorctl import verify_server as vs

    try:
        rules = vs.load_rules(args.rules) if args.rules else {}
        if args.allow:
            rules["allow"] = list(rules.get("allow", [])) + args.allow
        if args.deny:
            rules["deny"] = list(rules.get("deny", [])) + args.deny
        if args.form:
            rules["form"] = args.form
        if args.delay_ms is not None:
            rules["delay_ms"] = args.delay_ms
        if args.delay_max_ms is not None:
            rules["delay_max_ms"] = args.delay_max_ms
        if args.no_answer is not None:
            rules["no_answer"] = args.no_answer
        if args.seed is not None:
            rules["seed"] = args.seed
        if args.status is not None:
            rules["status"] = args.status
        rules = vs.check_rules(rules)
    except vs.RulesError as e:
        raise CliError(str(e))
    if bool(args.tls_cert) != bool(args.tls_key):
        raise CliError("--tls-cert and --tls-key go together")

    def log(entry):
        if args.json:
            e = dict(entry)
            e.pop("headers", None)
            print(json.dumps(e), flush=True)
        else:
            print(vs.format_entry(entry), flush=True)

    try:
        srv = vs.VerifyServer(rules, host=args.host, port=args.port, tls_cert=args.tls_cert,
                              tls_key=args.tls_key, log=log)
    except OSError as e:
        raise CliError("cannot listen on %s:%d: %s" % (args.host, args.port, e.strerror or e))
    scheme = "https" if args.tls_cert else "http"
    delay = "%d ms" % rules["delay_ms"]
    if rules["delay_max_ms"] is not None:
        delay = "%d-%d ms" % (rules["delay_ms"], rules["delay_max_ms"])
    if rules["no_answer"]:
        delay += ", %g%% never answered" % (100.0 * rules["no_answer"])
    print("verify server on %s://%s:%d/ (form %s, %d allowed, delay %s); Ctrl-C stops"
          % (scheme, args.host, srv.port, rules["form"], len(rules["allow"]), delay),
          file=sys.stderr, flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    return 0


def register(sub):
    p = sub.add_parser("verify-server", help="reference third-party verification server (logs requests)",
                       description="Answer a door's third-party verification requests by rules and log "
                                   "what it sends. See docs/verify.md for the rules file.")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8090, help="port (default %(default)s)")
    p.add_argument("--rules", help="rules JSON file")
    p.add_argument("--allow", action="append", default=[], metavar="VALUE",
                   help="grant requests carrying this QR code / card / PIN (repeatable)")
    p.add_argument("--deny", action="append", default=[], metavar="VALUE", help="never grant this value")
    p.add_argument("--form", choices=("isvalid_bool", "isvalid_int", "validation_result"),
                   help="answer form (default isvalid_bool: {\"isvalid\": true})")
    p.add_argument("--delay-ms", type=int, help="wait before every answer (the door gives up after 3000)")
    p.add_argument("--delay-max-ms", type=int, metavar="MS",
                   help="wait a random time from --delay-ms (default 0) to this before each answer")
    p.add_argument("--no-answer", type=float, metavar="FRACTION",
                   help="never answer this fraction of requests (0-1): the door's timeout decides them")
    p.add_argument("--seed", type=int, help="seed of the random delays and unanswered requests")
    p.add_argument("--status", type=int, help="HTTP status of every answer")
    p.add_argument("--tls-cert", help="serve https with this certificate (PEM)")
    p.add_argument("--tls-key", help="private key of --tls-cert (PEM)")
    p.add_argument("--json", action="store_true", help="log one JSON object per request")
    p.set_defaults(func=cmd_verify_server)
