"""Spread jobs over worker processes with a shared subscription: each job goes to one worker.

Run without arguments, it starts three worker processes (this same file with the argument
"worker"), gives them jobs, stops one and gives the other two more. In production you would
start the workers yourself (systemd, containers, ...), as many as the load needs:

    python shared_subscriptions.py worker 1
"""

import asyncio
import collections
import os
import sys

import asyncmqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))

JOBS = "$share/workers/jobs/#"  # the group "workers" shares the filter jobs/#


async def worker(name: str) -> None:
    # Each worker is its own client. manual_ack: a job is acknowledged once it is done.
    async with asyncmqtt.Client(HOST, port=PORT, manual_ack=True) as client:
        await client.subscribe(JOBS, qos=1)
        await client.subscribe(f"workers/{name}/#", qos=1)  # not shared: this worker's own
        print("ready", flush=True)
        async for message in client.messages:
            if message.topic.matches(JOBS):  # (matched as jobs/# is)
                await do_job(client, message, name)
                continue
            await message.ack()
            if message.topic.matches(f"workers/{name}/stop"):
                # Leave cleanly. Once the broker confirmed the unsubscribe it gives us no new
                # jobs, but it may still hold some it had queued for us. A message to
                # ourselves queues behind them: when it comes back, we have them all.
                await client.unsubscribe(JOBS)
                await client.publish(f"workers/{name}/drained", "", qos=1)
            else:  # drained: every job given to us is done
                return


async def do_job(client: asyncmqtt.Client, message: asyncmqtt.Message, name: str) -> None:
    job = message.payload.decode()
    await client.publish(f"results/{job}", name, qos=1)  # the work: say who did it
    await message.ack()


async def give_jobs(client: asyncmqtt.Client, jobs: range) -> None:
    """Publish the jobs, wait for every result, say who did how many."""
    for number in jobs:
        await client.publish(f"jobs/{number}", number, qos=1)
    done: dict[str, str] = {}  # job -> the worker that did it
    while len(done) < len(jobs):
        result = await anext(client.messages)
        job = str(result.topic).removeprefix("results/")
        assert job not in done, f"job {job} was done twice"
        done[job] = result.payload.decode()
    counts = collections.Counter(done.values())
    shares = ", ".join(f"worker {name}: {counts[name]}" for name in sorted(counts))
    print(f"{len(jobs)} jobs done, each once ({shares})")


async def main() -> None:
    async with asyncmqtt.Client(HOST, port=PORT) as client:
        await client.subscribe("results/#", qos=1)
        workers = {}
        for name in ("1", "2", "3"):
            workers[name] = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "worker", name, stdout=asyncio.subprocess.PIPE
            )
        for process in workers.values():
            assert process.stdout is not None
            await process.stdout.readline()  # "ready": it has subscribed
        print(f"{len(workers)} workers ready")
        await give_jobs(client, range(12))
        # Worker 1 leaves; the others take over its share.
        await client.publish("workers/1/stop", "", qos=1)
        await workers.pop("1").wait()
        print("worker 1 left")
        await give_jobs(client, range(12, 18))
        for name, process in workers.items():
            await client.publish(f"workers/{name}/stop", "", qos=1)
            await process.wait()


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        asyncio.run(worker(sys.argv[2]))
    else:
        asyncio.run(main())
