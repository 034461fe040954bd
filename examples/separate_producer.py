"""Producer half of seed 003's open question: two independently started programs sharing a queue.

Run ``python examples/separate_consumer.py`` in one terminal and this in another (any order).
"""

import sys
from random import random
from time import sleep

import chute

queue = chute.Queue.from_name("separate-programs", create_if_missing=True)
count = int(sys.argv[1]) if len(sys.argv) > 1 else 10
print("Producer: Running", flush=True)
for _ in range(count):
    value = random()
    sleep(value / 10)
    queue.put(value)
queue.put(None)  # sentinel: no more work
print("Producer: Done", flush=True)
