#!/bin/sh
echo "packages:"; ls /app/*.pkg
cat /app/token-check
