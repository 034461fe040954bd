"""Consumer half: started on its own, it waits for the producer program's items."""

import chute

queue = chute.Queue.from_name("separate-programs", create_if_missing=True)
print("Consumer: Running", flush=True)
while True:
    item = queue.get()
    if item is None:
        break
    print(f">got {item}", flush=True)
print("Consumer: Done", flush=True)
