-- Each connection waits 1 ms after a response before sending the next request, so the
-- offered load stays well below what any of the targets can serve.
function delay()
  return 1
end
