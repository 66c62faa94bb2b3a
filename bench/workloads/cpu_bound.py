"""A CPU-bound pure-Python workload: the kinds of code user programs spend time in
(calls and recursion, attribute access on objects, dicts and strings, sorting, generators,
float arithmetic). About one second under python3.11 on the benchmark machine."""


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


class Body:
    __slots__ = ("x", "y", "vx", "vy", "m")

    def __init__(self, x, y, vx, vy, m):
        self.x, self.y, self.vx, self.vy, self.m = x, y, vx, vy, m


def nbody(steps):
    bodies = [Body(i * 1.5, i * -0.5, 0.01 * i, -0.02 * i, 1.0 + i) for i in range(5)]
    for _ in range(steps):
        for i, a in enumerate(bodies):
            for b in bodies[i + 1:]:
                dx, dy = a.x - b.x, a.y - b.y
                d2 = dx * dx + dy * dy + 0.01
                mag = 0.001 / (d2 * d2 ** 0.5)
                a.vx -= dx * b.m * mag
                a.vy -= dy * b.m * mag
                b.vx += dx * a.m * mag
                b.vy += dy * a.m * mag
        for body in bodies:
            body.x += body.vx
            body.y += body.vy
    return sum(b.x + b.y for b in bodies)


def text(n):
    counts = {}
    for i in range(n):
        word = f"w{i % 997}-{i % 13}"
        counts[word] = counts.get(word, 0) + len(word.upper())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return sum(v for _, v in ranked[:100]) + sum(1 for k in counts if k.endswith("-7"))


def generators(n):
    squares = (i * i for i in range(n))
    evens = (s for s in squares if s % 2 == 0)
    return sum(e % 1000 for e in evens)


fib(28)
nbody(60000)
text(800000)
generators(4000000)
