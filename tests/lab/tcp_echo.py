#!/usr/bin/env python3
"""A line echo server for the lab: answers each line with "NAME LINE", so a client knows which
real server holds its connection. Usage: tcp_echo.py NAME BIND PORT"""
import socket
import socketserver
import sys

NAME = sys.argv[1]


class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(NAME.encode() + b" " + line)
            self.wfile.flush()


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    address_family = socket.AF_INET6 if ":" in sys.argv[2] else socket.AF_INET


with Server((sys.argv[2], int(sys.argv[3])), Echo) as srv:
    print("echo: listening", flush=True)
    srv.serve_forever()
